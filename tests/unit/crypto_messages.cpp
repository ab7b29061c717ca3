// classify(): type byte plus exact length, reserved bytes zero.
#define BOOST_TEST_MODULE crypto_messages
#include <boost/test/unit_test.hpp>

#include "crypto/messages.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;

namespace {
MessageKind kind_of(std::uint8_t type, std::size_t size) {
  Bytes b(size, 0xaa);
  if (size > 0) b[0] = type;
  for (std::size_t i = 1; i < 4 && i < size; ++i) b[i] = 0;
  return classify(b);
}
}  // namespace

BOOST_AUTO_TEST_CASE(exact_sizes) {
  BOOST_TEST(int(kind_of(1, 148)) == int(MessageKind::Initiation));
  BOOST_TEST(int(kind_of(2, 92)) == int(MessageKind::Response));
  BOOST_TEST(int(kind_of(3, 64)) == int(MessageKind::CookieReply));
  BOOST_TEST(int(kind_of(4, 32)) == int(MessageKind::Data));
  BOOST_TEST(int(kind_of(4, 32 + 16)) == int(MessageKind::Data));
  // A full-MTU packet padded only up to a 1420-byte MTU is not a multiple of 16: still data.
  BOOST_TEST(int(kind_of(4, 32 + 1420)) == int(MessageKind::Data));
}

BOOST_AUTO_TEST_CASE(wrong_sizes_and_types) {
  BOOST_TEST(int(kind_of(1, 147)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(1, 149)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(2, 148)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(3, 65)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(4, 31)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(0, 148)) == int(MessageKind::Invalid));
  BOOST_TEST(int(kind_of(5, 64)) == int(MessageKind::Invalid));
  BOOST_TEST(int(classify(Span())) == int(MessageKind::Invalid));
  const std::uint8_t three[3] = {4, 0, 0};
  BOOST_TEST(int(classify(Span(three))) == int(MessageKind::Invalid));
}

BOOST_AUTO_TEST_CASE(reserved_bytes_must_be_zero) {
  for (std::size_t i = 1; i < 4; ++i) {
    Bytes b(148, 0);
    b[0] = 1;
    b[i] = 1;
    BOOST_TEST(int(classify(b)) == int(MessageKind::Invalid));
  }
}
