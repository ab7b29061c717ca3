// Control-socket framing: frames survive any split of the byte stream, several frames in one
// read come out in order, and a hostile length is refused before anything is buffered.
#define BOOST_TEST_MODULE control_framing
#include <boost/test/unit_test.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "proto/framing.h"

using keymesh::proto::frame;
using keymesh::proto::FrameReader;
using Status = FrameReader::Status;

namespace keymesh::proto {
std::ostream& operator<<(std::ostream& os, FrameReader::Status s) {
  return os << (s == Status::NeedMore ? "NeedMore" : s == Status::Frame ? "Frame" : "TooLarge");
}
}  // namespace keymesh::proto

namespace {

void feed(FrameReader& r, const std::string& bytes) {
  r.feed(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

// Everything the reader yields right now, plus the status that stopped it.
std::vector<std::string> drain(FrameReader& r, Status* last) {
  std::vector<std::string> out;
  std::string payload;
  while ((*last = r.next(&payload)) == Status::Frame) out.push_back(payload);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(frame_is_big_endian_length_then_payload) {
  BOOST_TEST(frame("abc") == std::string("\0\0\0\3abc", 7));
  BOOST_TEST(frame("") == std::string("\0\0\0\0", 4));
  BOOST_TEST(frame(std::string(0x01020304 & 0xffff, 'x')).substr(0, 4) ==
             std::string("\0\0\x03\x04", 4));
}

BOOST_AUTO_TEST_CASE(every_split_of_the_stream_yields_the_same_frames) {
  const std::vector<std::string> payloads = {"first", "", std::string(300, '\xee'), "last"};
  std::string stream;
  for (const auto& p : payloads) stream += frame(p);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    FrameReader r;
    std::vector<std::string> got;
    Status last = Status::NeedMore;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      feed(r, stream.substr(i, chunk));
      for (auto& p : drain(r, &last)) got.push_back(p);
      BOOST_REQUIRE(last == Status::NeedMore);
    }
    BOOST_TEST(got == payloads, "chunk size " << chunk);
  }
}

BOOST_AUTO_TEST_CASE(several_frames_in_one_feed_come_out_in_order) {
  FrameReader r;
  feed(r, frame("a") + frame("bb") + frame("ccc"));
  Status last;
  BOOST_TEST(drain(r, &last) == (std::vector<std::string>{"a", "bb", "ccc"}));
  BOOST_TEST(last == Status::NeedMore);
}

BOOST_AUTO_TEST_CASE(truncated_frame_waits_for_the_rest) {
  FrameReader r;
  const std::string f = frame("hello");
  feed(r, f.substr(0, 2));  // half a header
  std::string out;
  BOOST_TEST(r.next(&out) == Status::NeedMore);
  feed(r, f.substr(2, 5));  // header and two bytes
  BOOST_TEST(r.next(&out) == Status::NeedMore);
  feed(r, f.substr(7));
  BOOST_TEST(r.next(&out) == Status::Frame);
  BOOST_TEST(out == "hello");
  BOOST_TEST(r.next(&out) == Status::NeedMore);
}

BOOST_AUTO_TEST_CASE(oversize_length_is_refused_from_the_header_alone) {
  FrameReader r;
  feed(r, std::string("\x00\x10\x00\x01", 4));  // kMaxFrameSize + 1
  std::string out;
  BOOST_TEST(r.next(&out) == Status::TooLarge);
  feed(r, frame("ok"));  // the stream stays broken
  BOOST_TEST(r.next(&out) == Status::TooLarge);

  FrameReader at_limit;
  feed(at_limit, std::string("\x00\x10\x00\x00", 4));  // exactly kMaxFrameSize: allowed
  BOOST_TEST(at_limit.next(&out) == Status::NeedMore);
  feed(at_limit, std::string(keymesh::proto::kMaxFrameSize, 'z'));
  BOOST_TEST(at_limit.next(&out) == Status::Frame);
  BOOST_TEST(out.size() == keymesh::proto::kMaxFrameSize);
}
