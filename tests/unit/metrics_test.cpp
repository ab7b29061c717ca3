// metrics/: the text exposition writer (names, escaping, families, values), the bounded
// label counters and the /proc parsers, against known answers.
#define BOOST_TEST_MODULE metrics
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "metrics/bounded.h"
#include "metrics/exposition.h"
#include "metrics/process.h"

using namespace keymesh::metrics;

BOOST_AUTO_TEST_CASE(names_follow_the_data_model) {
  BOOST_TEST(valid_metric_name("keymesh_drops_total"));
  BOOST_TEST(valid_metric_name("job:rate5m"));
  BOOST_TEST(valid_metric_name("_x1"));
  BOOST_TEST(!valid_metric_name(""));
  BOOST_TEST(!valid_metric_name("1abc"));
  BOOST_TEST(!valid_metric_name("a-b"));
  BOOST_TEST(!valid_metric_name("a b"));
  BOOST_TEST(!valid_metric_name("naïve"));
  BOOST_TEST(valid_label_name("reason"));
  BOOST_TEST(!valid_label_name("a:b"));     // colons are for metric names only
  BOOST_TEST(!valid_label_name("__name"));  // reserved
  BOOST_TEST(!valid_label_name("9"));
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
  BOOST_TEST(escape_label_value(R"(a"b\c)") == R"(a\"b\\c)");
  BOOST_TEST(escape_label_value("line\nbreak") == R"(line\nbreak)");
  BOOST_TEST(escape_label_value("plain é") == "plain é");
  BOOST_TEST(escape_help("say \"hi\"\\\n") == "say \"hi\"\\\\\\n");
}

BOOST_AUTO_TEST_CASE(values_print_as_the_format_spells_them) {
  BOOST_TEST(format_value(0) == "0");
  BOOST_TEST(format_value(12345678901234.0) == "12345678901234");
  BOOST_TEST(format_value(-3) == "-3");
  BOOST_TEST(format_value(0.25) == "0.25");
  BOOST_TEST(format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  BOOST_TEST(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  BOOST_TEST(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  BOOST_TEST(format_value(1e300) == "1e+300");
}

BOOST_AUTO_TEST_CASE(a_family_and_its_samples) {
  Writer w;
  w.family("keymesh_drops_total", Type::kCounter, "Packets dropped,\nby reason.");
  w.sample({{"reason", "policy_denied"}}, 3);
  w.sample({{"reason", "odd\"value\n"}, {"dir", "in"}}, 0);
  w.family("keymesh_paths", Type::kGauge, "Paths open.");
  w.sample(2);
  BOOST_TEST(w.errors() == 0u);
  BOOST_TEST(w.text() ==
             "# HELP keymesh_drops_total Packets dropped,\\nby reason.\n"
             "# TYPE keymesh_drops_total counter\n"
             "keymesh_drops_total{reason=\"policy_denied\"} 3\n"
             "keymesh_drops_total{reason=\"odd\\\"value\\n\",dir=\"in\"} 0\n"
             "# HELP keymesh_paths Paths open.\n"
             "# TYPE keymesh_paths gauge\n"
             "keymesh_paths 2\n");
}

BOOST_AUTO_TEST_CASE(what_a_scraper_would_reject_is_left_out_and_counted) {
  Writer w;
  w.sample(1);                                          // no family open
  w.family("keymesh_handshakes", Type::kCounter, "x");  // a counter without _total
  w.sample(1);                                          // belongs to the refused family
  w.family("bad-name", Type::kGauge, "x");
  w.family("keymesh_ok", Type::kGauge, "x");
  w.sample({{"__reserved", "v"}}, 1);
  w.sample({{"a", "1"}, {"a", "2"}}, 1);                // a label twice
  w.sample({{"a", "1"}}, 1);
  w.family("keymesh_ok", Type::kGauge, "again");        // a family twice
  w.sample(5);
  BOOST_TEST(w.errors() == 8u);
  BOOST_TEST(w.text() ==
             "# HELP keymesh_ok x\n# TYPE keymesh_ok gauge\nkeymesh_ok{a=\"1\"} 1\n");
}

BOOST_AUTO_TEST_CASE(bounded_counter_caps_distinct_keys_and_keeps_the_total) {
  BoundedCounter<2> c(2);
  c.add({"web", "db"});
  c.add({"web", "db"}, 4);
  c.add({"api", "db"});
  c.add({"x", "y"}, 7);  // third distinct key: goes to other/other
  c.add({"z", "y"});
  c.add({"api", "db"});  // a known key still counts under its own name
  std::uint64_t total = 0;
  std::size_t keys = 0;
  std::uint64_t web_db = 0, other = 0, api_db = 0;
  c.for_each([&](const auto& key, std::uint64_t n) {
    total += n;
    ++keys;
    if (key[0] == "web" && key[1] == "db") web_db = n;
    if (key[0] == "api" && key[1] == "db") api_db = n;
    if (key[0] == "other" && key[1] == "other") other = n;
  });
  BOOST_TEST(keys == 3u);
  BOOST_TEST(total == 15u);
  BOOST_TEST(web_db == 5u);
  BOOST_TEST(api_db == 2u);
  BOOST_TEST(other == 8u);
  BOOST_TEST(c.distinct() == 2u);
  BOOST_TEST(c.overflowed() == 8u);
}

BOOST_AUTO_TEST_CASE(proc_stat_is_read_from_after_the_last_parenthesis) {
  // A command name with spaces and a ')' of its own, as a process may choose.
  const std::string stat =
      "4242 (key mesh) d) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 "
      "12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto f = parse_proc_stat(stat);
  BOOST_REQUIRE(f.has_value());
  BOOST_TEST(f->utime_ticks == 250);
  BOOST_TEST(f->stime_ticks == 150);
  BOOST_TEST(f->start_ticks == 12345);
  BOOST_TEST(f->vsize_bytes == 104857600);
  BOOST_TEST(f->rss_pages == 2560);
  BOOST_TEST(!parse_proc_stat("4242 (cut short) S 1 2 3").has_value());
  BOOST_TEST(!parse_proc_stat("no parenthesis").has_value());
}

BOOST_AUTO_TEST_CASE(boot_time_and_fd_limit) {
  BOOST_TEST(*parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") ==
             1700000000.0);
  BOOST_TEST(!parse_boot_time("cpu 1\n").has_value());
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max processes             63414                63414                processes \n"
      "Max open files            1024                 524288               files     \n";
  BOOST_TEST(*parse_max_open_files(limits) == 1024.0);
  BOOST_TEST(!parse_max_open_files("Max open files  unlimited  unlimited  files\n").has_value());
}

BOOST_AUTO_TEST_CASE(process_metrics_of_this_process) {
  const ProcessStats s = read_process_stats();
  BOOST_REQUIRE(s.resident_bytes.has_value());
  BOOST_TEST(*s.resident_bytes > 0);
  BOOST_REQUIRE(s.open_fds.has_value());
  BOOST_TEST(*s.open_fds >= 3);  // stdin, stdout, stderr at least
  BOOST_REQUIRE(s.start_time_seconds.has_value());
  BOOST_TEST(*s.start_time_seconds > 0);
  Writer w;
  write_process_metrics(w, s);
  BOOST_TEST(w.errors() == 0u);
  BOOST_TEST(w.text().find("\nprocess_resident_memory_bytes ") != std::string::npos);
  BOOST_TEST(w.text().find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
}
