// Known-answer tests for every primitive WireGuard is built from. Each expected value comes
// from a published vector (RFC 7693, blake2s-kat, RFC 7748, RFC 8439, draft-irtf-cfrg-xchacha)
// or was computed independently with Python's hashlib/hmac/cryptography, never with our code.
#define BOOST_TEST_MODULE crypto_primitives
#include <boost/test/unit_test.hpp>

#include <blake2.h>
#include <sodium.h>

#include <chrono>
#include <string>

#include "crypto/primitives.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using keymesh::crypto::test::hex;

namespace {
Span str(std::string_view s) { return Span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
const std::string kSunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
}  // namespace

BOOST_AUTO_TEST_SUITE(blake2s_family)

BOOST_AUTO_TEST_CASE(rfc7693_abc) {
  const Hash h = hash({str("abc")});
  BOOST_TEST(to_hex(h) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

BOOST_AUTO_TEST_CASE(hash_concatenates_parts) {
  BOOST_TEST(to_hex(hash({str("a"), str(""), str("bc")})) == to_hex(hash({str("abc")})));
}

BOOST_AUTO_TEST_CASE(keyed_kat_vectors) {
  // blake2s-kat.txt keyed entries, key 00..1f, 32-byte output.
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  std::uint8_t out[32];
  blake2s(out, nullptr, key.data(), 32, 0, key.size());
  BOOST_TEST(to_hex(Span(out)) == "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
  const std::uint8_t zero = 0;
  blake2s(out, &zero, key.data(), 32, 1, key.size());
  BOOST_TEST(to_hex(Span(out)) == "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1");
}

BOOST_AUTO_TEST_CASE(mac_is_keyed_blake2s_128) {
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  // hashlib.blake2s(b"hello", key=key, digest_size=16)
  BOOST_TEST(to_hex(mac(Span(key), str("hello"))) == "1f946dc212a39570bc06fd378517a91e");
}

BOOST_AUTO_TEST_CASE(hmac_blake2s) {
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  // hmac.new(key, msg, hashlib.blake2s)
  BOOST_TEST(to_hex(hmac(Span(key), str("The quick brown fox"))) ==
             "22bcaf49c813868721c17ffc23f598e97283f564a578996cb149fad35ed8d00c");
  // A key longer than the 64-byte block is hashed first.
  Bytes long_key(100);
  for (std::size_t i = 0; i < long_key.size(); ++i) long_key[i] = std::uint8_t(i);
  BOOST_TEST(to_hex(hmac(Span(long_key), str("abc"))) ==
             "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656");
}

BOOST_AUTO_TEST_CASE(kdf_three_outputs) {
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  Hash t1, t2, t3;
  kdf(t1.data(), t2.data(), t3.data(), Span(key), str("input key material"));
  BOOST_TEST(to_hex(t1) == "93e2a65883e34ac95485f5d0aa4b09163a4e944dab8cf9406d3a138e362851c6");
  BOOST_TEST(to_hex(t2) == "dd6fae42afdb2a41170f44dc5b885ec4cfd17c8dd324d38b390c548630dd0a83");
  BOOST_TEST(to_hex(t3) == "4125e0adfa9b7e736615e99dde6f3f0b64b949d8b480e82cab2e685dc286e45d");
}

BOOST_AUTO_TEST_CASE(kdf_empty_input_and_aliasing) {
  // The noise code writes ck = KDF(ck, x): output aliasing the key must still be right.
  Hash ck;
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  std::copy(key.begin(), key.end(), ck.begin());
  Hash second;
  kdf(ck.data(), second.data(), nullptr, Span(ck), Span());
  BOOST_TEST(to_hex(ck) == "7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624");
  BOOST_TEST(to_hex(second) == "1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd");
}

BOOST_AUTO_TEST_CASE(wireguard_initial_chaining_key_and_hash) {
  // HASH(Construction) and HASH(ck || Identifier), the values every WireGuard starts from.
  const Hash ck = hash({str(kConstruction)});
  BOOST_TEST(to_hex(ck) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  BOOST_TEST(to_hex(hash({Span(ck), str(kIdentifier)})) ==
             "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(x25519)

BOOST_AUTO_TEST_CASE(rfc7748_section_5_2) {
  SecretKey scalar(std::span<const std::uint8_t, 32>(
      hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4").data(), 32));
  Key u;
  const Bytes ub = hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
  std::copy(ub.begin(), ub.end(), u.begin());
  SecretKey out;
  BOOST_REQUIRE(dh(out, scalar, u));
  BOOST_TEST(to_hex(out.span()) == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

BOOST_AUTO_TEST_CASE(rfc7748_section_6_1) {
  const Bytes a = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Bytes b = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  SecretKey alice(std::span<const std::uint8_t, 32>(a.data(), 32));
  SecretKey bob(std::span<const std::uint8_t, 32>(b.data(), 32));
  const Key alice_pub = public_key(alice), bob_pub = public_key(bob);
  BOOST_TEST(to_hex(alice_pub) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  BOOST_TEST(to_hex(bob_pub) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  SecretKey k1, k2;
  BOOST_REQUIRE(dh(k1, alice, bob_pub));
  BOOST_REQUIRE(dh(k2, bob, alice_pub));
  const char* shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  BOOST_TEST(to_hex(k1.span()) == shared);
  BOOST_TEST(to_hex(k2.span()) == shared);
}

BOOST_AUTO_TEST_CASE(low_order_points_fail) {
  SecretKey priv;
  generate_private_key(priv);
  SecretKey out;
  Key zero{};
  BOOST_TEST(!dh(out, priv, zero));
  BOOST_TEST(out.is_zero());
  // A point of order 8 (from the libsodium / curve25519 blacklist).
  Key order8;
  const Bytes p = hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  std::copy(p.begin(), p.end(), order8.begin());
  BOOST_TEST(!dh(out, priv, order8));
}

BOOST_AUTO_TEST_CASE(generated_keys_are_clamped) {
  for (int i = 0; i < 32; ++i) {
    SecretKey k;
    generate_private_key(k);
    BOOST_TEST((k.data()[0] & 7) == 0);
    BOOST_TEST((k.data()[31] & 0xc0) == 0x40);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(aead)

BOOST_AUTO_TEST_CASE(rfc8439_section_2_8_2_via_sodium) {
  // The RFC's nonce (07000000 || iv) is not WireGuard's layout, so the underlying libsodium
  // call is tested directly; the WireGuard-nonce wrapper is tested next.
  Bytes key(32);
  for (std::size_t i = 0; i < 32; ++i) key[i] = std::uint8_t(0x80 + i);
  const Bytes nonce = hex("070000004041424344454647");
  const Bytes ad = hex("50515253c0c1c2c3c4c5c6c7");
  Bytes ct(kSunscreen.size() + 16);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(ct.data(), &len,
                                            reinterpret_cast<const std::uint8_t*>(kSunscreen.data()),
                                            kSunscreen.size(), ad.data(), ad.size(), nullptr,
                                            nonce.data(), key.data());
  BOOST_TEST(to_hex(ct) ==
             "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb"
             "69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad6"
             "75945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
             "1ae10b594f09e26a7e902ecbd0600691");
}

BOOST_AUTO_TEST_CASE(wireguard_nonce_layout) {
  // Python: ChaCha20Poly1305(key).encrypt(bytes(4) + (5).to_bytes(8, 'little'), msg, b"")
  Bytes key(32);
  for (std::size_t i = 0; i < 32; ++i) key[i] = std::uint8_t(0x80 + i);
  const Span msg = str("hello wireguard");
  Bytes ct(msg.size() + kTagSize);
  seal(MutSpan(ct), key.data(), 5, msg, Span());
  BOOST_TEST(to_hex(ct) == "5b89bff2ef7b0aab5e916a435d44254690261b9556b9417325572219f8e416");
  Bytes back(msg.size());
  BOOST_TEST(open(MutSpan(back), key.data(), 5, Span(ct), Span()));
  BOOST_TEST(std::string(back.begin(), back.end()) == "hello wireguard");
  BOOST_TEST(!open(MutSpan(back), key.data(), 6, Span(ct), Span()));  // wrong counter
}

BOOST_AUTO_TEST_CASE(seal_open_round_trip_in_place_with_ad) {
  Bytes key(32, 0x42);
  const Span ad = str("associated");
  Bytes buf(100 + kTagSize);
  for (std::size_t i = 0; i < 100; ++i) buf[i] = std::uint8_t(i);
  seal(MutSpan(buf), key.data(), 1ull << 40, Span(buf.data(), 100), ad);
  BOOST_TEST(open(MutSpan(buf.data(), 100), key.data(), 1ull << 40, Span(buf), ad));
  for (std::size_t i = 0; i < 100; ++i) BOOST_TEST(buf[i] == i);
  // Wrong AD and a short ciphertext both fail.
  seal(MutSpan(buf), key.data(), 7, Span(buf.data(), 100), ad);
  Bytes out(100);
  BOOST_TEST(!open(MutSpan(out), key.data(), 7, Span(buf), str("other")));
  BOOST_TEST(!open(MutSpan(out), key.data(), 7, Span(buf.data(), 15), ad));
}

BOOST_AUTO_TEST_CASE(xchacha_draft_a_3_1) {
  Bytes key(32);
  for (std::size_t i = 0; i < 32; ++i) key[i] = std::uint8_t(0x80 + i);
  const Bytes nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const Bytes ad = hex("50515253c0c1c2c3c4c5c6c7");
  Bytes ct(kSunscreen.size() + 16);
  xseal(MutSpan(ct), key.data(), nonce.data(), str(kSunscreen), Span(ad));
  BOOST_TEST(to_hex(ct) ==
             "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a8"
             "2f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369"
             "488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
             "c0875924c1c7987947deafd8780acf49");
  Bytes back(kSunscreen.size());
  BOOST_TEST(xopen(MutSpan(back), key.data(), nonce.data(), Span(ct), Span(ad)));
  BOOST_TEST(std::string(back.begin(), back.end()) == kSunscreen);
  ct[3] ^= 1;
  BOOST_TEST(!xopen(MutSpan(back), key.data(), nonce.data(), Span(ct), Span(ad)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tai64n_suite)

BOOST_AUTO_TEST_CASE(known_instant) {
  // Unix 1'700'000'000 s + 123'456'789 ns: seconds 2^62 + 10 + t, nanoseconds rounded down to
  // a multiple of 2^24 (0x075bcd15 -> 0x07000000). Python: struct.pack(">QI", ...).
  const WallTime t = WallTime(std::chrono::seconds(1'700'000'000)) +
                     std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(123'456'789));
  BOOST_TEST(to_hex(tai64n(t)) == "400000006553f10a07000000");
}

BOOST_AUTO_TEST_CASE(ordering) {
  const WallTime t = WallTime(std::chrono::seconds(1'700'000'000));
  const Timestamp a = tai64n(t);
  const Timestamp b = tai64n(t + std::chrono::milliseconds(20));  // > 2^24 ns later
  const Timestamp c = tai64n(t + std::chrono::milliseconds(5));   // same 16 ms bucket
  BOOST_TEST(timestamp_after(b, a));
  BOOST_TEST(!timestamp_after(a, b));
  BOOST_TEST(!timestamp_after(c, a));
  BOOST_TEST(!timestamp_after(a, a));
  BOOST_TEST(timestamp_after(tai64n(t + std::chrono::seconds(1)), b));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(random_bytes_fill) {
  std::array<std::uint8_t, 64> a{}, b{};
  random_bytes(MutSpan(a));
  random_bytes(MutSpan(b));
  BOOST_TEST(to_hex(a) != to_hex(b));
  BOOST_TEST((random_u32() != random_u32() || random_u32() != random_u32()));
}
