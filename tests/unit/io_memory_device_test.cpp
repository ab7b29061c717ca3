// tun::MemoryDevice: the in-memory inside edge.
#define BOOST_TEST_MODULE io_memory_device
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <vector>

#include "tun/memory_device.h"

using keymesh::tun::MemoryDevice;

namespace {
std::vector<std::uint8_t> packet(std::size_t size, std::uint8_t fill) {
  return std::vector<std::uint8_t>(size, fill);
}
}  // namespace

BOOST_AUTO_TEST_CASE(identity) {
  MemoryDevice dev("km7", 1380);
  BOOST_TEST(dev.fd() == -1);
  BOOST_TEST(dev.name() == "km7");
  BOOST_TEST(dev.mtu() == 1380);
}

BOOST_AUTO_TEST_CASE(injected_packets_are_read_in_order) {
  MemoryDevice dev;
  std::vector<std::uint8_t> buf(2000);
  BOOST_TEST(dev.read(buf) == 0);  // nothing yet: "would block"
  BOOST_TEST(dev.inject(packet(60, 1)));
  BOOST_TEST(dev.inject(packet(1400, 2)));
  BOOST_TEST(dev.pending() == 2u);
  BOOST_TEST(dev.read(buf) == 60);
  BOOST_TEST(buf[0] == 1);
  BOOST_TEST(dev.read(buf) == 1400);
  BOOST_TEST(buf[1399] == 2);
  BOOST_TEST(dev.read(buf) == 0);
}

BOOST_AUTO_TEST_CASE(oversized_packet_is_consumed_and_reported) {
  MemoryDevice dev;
  dev.inject(packet(1500, 1));
  dev.inject(packet(10, 2));
  std::vector<std::uint8_t> small(100);
  BOOST_TEST(dev.read(small) == -EMSGSIZE);
  BOOST_TEST(dev.read(small) == 10);
  BOOST_TEST(small[0] == 2);
}

BOOST_AUTO_TEST_CASE(queues_are_bounded) {
  MemoryDevice dev("km0", 1420, 3);
  for (int i = 0; i < 3; ++i) BOOST_TEST(dev.inject(packet(20, std::uint8_t(i))));
  BOOST_TEST(!dev.inject(packet(20, 9)));
  BOOST_TEST(dev.dropped_inject() == 1u);
  BOOST_TEST(dev.pending() == 3u);
  for (int i = 0; i < 3; ++i) BOOST_TEST(dev.write(packet(30, std::uint8_t(i))));
  BOOST_TEST(!dev.write(packet(30, 9)));
  BOOST_TEST(dev.dropped_write() == 1u);
}

BOOST_AUTO_TEST_CASE(written_packets_are_visible_and_taken) {
  MemoryDevice dev;
  BOOST_TEST(dev.write(packet(40, 7)));
  BOOST_TEST(dev.write(packet(41, 8)));
  auto seen = dev.written();
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].size() == 40u);
  BOOST_TEST(seen[1][0] == 8);
  BOOST_TEST(dev.written_count() == 2u);  // written() does not consume
  auto taken = dev.take_written();
  BOOST_TEST(taken.size() == 2u);
  BOOST_TEST(dev.written_count() == 0u);
  BOOST_TEST(dev.take_written().empty());
}
