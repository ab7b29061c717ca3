// kube/: watch events and lists of a v1.20 API server parsed into pods and namespaces, label
// validation, the reflector's resume/relist rules, and the identity a pod gets.
#define BOOST_TEST_MODULE kube
#include <boost/test/unit_test.hpp>

#include <string>

#include "kube/identity.h"
#include "kube/objects.h"
#include "kube/reflector.h"

using namespace keymesh::kube;

namespace {

std::string pod_event(const std::string& type, const std::string& name, const std::string& rv,
                      const std::string& extra_meta = "", const std::string& spec = R"({"nodeName":"node-1"})") {
  return R"({"type":")" + type + R"(","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"shop","uid":"u-)" + name + R"(","resourceVersion":")" + rv + "\"" + extra_meta +
         R"(},"spec":)" + spec + R"(,"status":{"phase":"Running","podIP":"100.64.0.7"}}})";
}

const char* kPodList =
    R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"100"},"items":[)"
    R"({"metadata":{"name":"a","namespace":"shop","resourceVersion":"90","labels":{"app":"web"}},"spec":{"serviceAccountName":"payments"}},)"
    R"({"metadata":{"name":"b","namespace":"shop","resourceVersion":"91"},"spec":{}},)"
    R"({"metadata":{"name":"bad","namespace":"shop","labels":{"no spaces":"x"}}}]})";

}  // namespace

BOOST_AUTO_TEST_CASE(a_watch_event_carries_the_pods_identity_fields) {
  auto ev = parse_watch_event(pod_event("ADDED", "web", "812", R"(,"labels":{"app":"web","app.kubernetes.io/part-of":"shop"})",
                                        R"({"nodeName":"node-1","serviceAccountName":"payments"})"),
                              Kind::kPod);
  BOOST_REQUIRE_MESSAGE(ev, (ev ? "" : ev.error()));
  BOOST_TEST((ev->type == EventType::kAdded));
  BOOST_TEST(ev->pod.namespace_name == "shop");
  BOOST_TEST(ev->pod.name == "web");
  BOOST_TEST(ev->pod.service_account == "payments");
  BOOST_TEST(ev->pod.node_name == "node-1");
  BOOST_TEST(ev->pod.pod_ip == "100.64.0.7");
  BOOST_TEST(ev->pod.labels.at("app.kubernetes.io/part-of") == "shop");
  BOOST_TEST(ev->resource_version == "812");
  BOOST_TEST(!ev->pod.terminating);
}

BOOST_AUTO_TEST_CASE(defaults_and_deletion) {
  auto ev = parse_watch_event(pod_event("MODIFIED", "web", "813", R"(,"deletionTimestamp":"2026-01-01T00:00:00Z")", "{}"),
                              Kind::kPod);
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->pod.service_account == "default");  // as the API server defaults it
  BOOST_TEST(ev->pod.terminating);
}

BOOST_AUTO_TEST_CASE(bad_events_are_errors_that_say_what) {
  auto expect_error = [](const std::string& line, const std::string& part) {
    auto ev = parse_watch_event(line, Kind::kPod);
    BOOST_TEST_CONTEXT(line) {
      BOOST_REQUIRE(!ev);
      BOOST_TEST(ev.error().find(part) != std::string::npos, ev.error());
    }
  };
  expect_error("not json", "not JSON");
  expect_error("[1,2]", "not a JSON object");
  expect_error(R"({"type":"EXPLODED","object":{}})", "unknown type");
  expect_error(R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"x"}}})", "namespace and name");
  expect_error(R"({"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"x","namespace":"y"}}})", "want Pod");
  expect_error(pod_event("ADDED", "x", "1", R"(,"labels":{"a":7})"), "not a string");
  expect_error(pod_event("ADDED", "x", "1", R"(,"labels":{"-a":"b"})"), "invalid key");
  expect_error(pod_event("ADDED", "x", "1", R"(,"labels":{"a":"b c"})"), "invalid value");
  expect_error(R"({"type":"BOOKMARK","object":{"metadata":{}}})", "bookmark");
  expect_error(std::string(100, '[') + std::string(100, ']'), "nested");
}

BOOST_AUTO_TEST_CASE(label_rules_are_kubernetes_rules) {
  for (const char* ok : {"app", "app.kubernetes.io/name", "a_b-c.d", "example.com/x", "A9"})
    BOOST_TEST(valid_label_key(ok), ok);
  for (const char* bad : {"", "-a", "a-", "a b", "Example.com/x", "a/b/c", "/x", "x/",
                          "k8s:namespace", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    BOOST_TEST(!valid_label_key(bad), bad);
  BOOST_TEST(valid_label_value(""));
  BOOST_TEST(!valid_label_value("a=b"));
}

BOOST_AUTO_TEST_CASE(reflector_lists_then_watches_from_the_lists_version) {
  Reflector r(Kind::kPod, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1");
  BOOST_TEST(r.needs_list());
  BOOST_TEST(r.next_request() == "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1");  // one page
  auto changes = r.on_list(kPodList);
  BOOST_REQUIRE_MESSAGE(changes, (changes ? "" : changes.error()));
  BOOST_TEST(changes->size() == 2u);  // the pod with a bad label is left out
  BOOST_TEST(r.pods().size() == 2u);
  BOOST_TEST(r.next_request().find("watch=1") != std::string::npos);
  BOOST_TEST(r.next_request().ends_with("&resourceVersion=100"));

  // Events move the version forward; a disconnect resumes from the newest.
  BOOST_REQUIRE(r.on_event(pod_event("ADDED", "c", "101")));
  auto del = r.on_event(pod_event("DELETED", "a", "102"));
  BOOST_REQUIRE(del);
  BOOST_TEST(((*del)[0].type == EventType::kDeleted && (*del)[0].key == "shop/a"));
  r.on_disconnect();
  BOOST_TEST(r.next_request().ends_with("&resourceVersion=102"));
  BOOST_REQUIRE(r.on_event(R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"150"}}})"));
  BOOST_TEST(r.resource_version() == "150");

  // A bad line changes nothing.
  BOOST_TEST(!r.on_event("{"));
  BOOST_TEST(r.pods().size() == 2u);

  // 410 Gone: list again; what vanished during the gap is reported deleted.
  BOOST_REQUIRE(r.on_event(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}})"));
  BOOST_TEST(r.needs_list());
  BOOST_TEST(r.relists() == 1u);
  auto resync = r.on_list(R"({"metadata":{"resourceVersion":"200"},"items":[{"metadata":{"name":"b","namespace":"shop","resourceVersion":"160"}}]})");
  BOOST_REQUIRE(resync);
  BOOST_TEST(r.pods().size() == 1u);
  bool c_deleted = false, b_modified = false;
  for (const auto& ch : *resync) {
    c_deleted |= ch.type == EventType::kDeleted && ch.key == "shop/c";
    b_modified |= ch.type == EventType::kModified && ch.key == "shop/b";
  }
  BOOST_TEST(c_deleted);
  BOOST_TEST(b_modified);
  BOOST_TEST(r.next_request().ends_with("&resourceVersion=200"));
}

BOOST_AUTO_TEST_CASE(a_pods_identity_names_namespace_service_account_and_spiffe) {
  Pod p;
  p.namespace_name = "shop";
  p.name = "web-1";
  p.service_account = "payments";
  p.labels = {{"app", "web"}};
  Namespace ns;
  ns.name = "shop";
  ns.labels = {{"team", "checkout"}};
  auto id = identity_for(p, &ns, "cluster.local", "node-1");
  BOOST_REQUIRE_MESSAGE(id, (id ? "" : id.error()));
  BOOST_TEST(id->name == "node-1/shop.web-1");
  BOOST_TEST(id->spiffe_id == "spiffe://cluster.local/ns/shop/sa/payments");
  BOOST_TEST(id->labels.at("k8s:spiffe") == id->spiffe_id);
  BOOST_TEST(id->labels.at("k8s:serviceaccount") == "payments");
  BOOST_TEST(id->labels.at("k8s:namespace") == "shop");
  BOOST_TEST(id->labels.at("k8s:pod") == "web-1");
  BOOST_TEST(id->labels.at("app") == "web");
  BOOST_TEST(id->labels.at("k8s:ns:team") == "checkout");
  BOOST_TEST((id->groups == std::vector<std::string>{"k8s", "ns-shop", "sa-shop.payments"}));

  // Namespace not known yet: no namespace labels, the rest the same.
  auto early = identity_for(p, nullptr, "cluster.local", "node-1");
  BOOST_REQUIRE(early);
  BOOST_TEST(!early->labels.contains("k8s:ns:team"));

  BOOST_TEST(!identity_for(p, &ns, "Bad Domain", "node-1"));
  p.host_network = true;
  auto host = identity_for(p, &ns, "cluster.local", "node-1");
  BOOST_REQUIRE(!host);
  BOOST_TEST(host.error().find("host network") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(more_labels_than_a_certificate_holds_is_an_error_naming_the_pod) {
  Pod p;
  p.namespace_name = "shop";
  p.name = "big";
  p.service_account = "default";
  for (int i = 0; i < 61; ++i) p.labels["l" + std::to_string(i)] = "v";
  auto id = identity_for(p, nullptr, "cluster.local", "");
  BOOST_REQUIRE(!id);  // 61 + 4 reserved > 64
  BOOST_TEST(id.error().find("shop/big") != std::string::npos, id.error());
  p.labels.erase("l0");
  BOOST_TEST(identity_for(p, nullptr, "cluster.local", "").has_value());  // exactly 64
}
