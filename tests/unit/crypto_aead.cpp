// The two data-path ChaCha20-Poly1305 implementations (crypto/aead.h): each gives the known
// answer with WireGuard's nonce layout, each opens what the other sealed at every size the data
// path uses, both refuse a forgery, and the dispatch by size reaches both.
#define BOOST_TEST_MODULE crypto_aead
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using keymesh::crypto::test::hex;

namespace {

constexpr AeadImpl kBoth[] = {AeadImpl::Libsodium, AeadImpl::OpenSsl};

std::vector<std::uint8_t> test_key() {
  std::vector<std::uint8_t> key(32);
  for (std::size_t i = 0; i < 32; ++i) key[i] = std::uint8_t(0x80 + i);
  return key;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

struct ChoiceGuard {
  AeadChoice saved = aead_choice();
  ~ChoiceGuard() { use_aead(saved); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(openssl_is_available_on_the_build_machine) {
  BOOST_TEST(measure_aead().openssl_available);
}

BOOST_AUTO_TEST_CASE(known_answer_with_wireguard_nonce_for_each_implementation) {
  // Python: ChaCha20Poly1305(key).encrypt(bytes(4) + (5).to_bytes(8, 'little'), msg, b"")
  const auto key = test_key();
  const std::string msg = "hello wireguard";
  for (AeadImpl impl : kBoth) {
    BOOST_TEST_CONTEXT(to_string(impl)) {
      std::vector<std::uint8_t> ct(msg.size() + kTagSize);
      seal_with(impl, MutSpan(ct), key.data(), 5,
                Span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), Span());
      BOOST_TEST(to_hex(ct) == "5b89bff2ef7b0aab5e916a435d44254690261b9556b9417325572219f8e416");
      std::vector<std::uint8_t> back(msg.size());
      BOOST_TEST(open_with(impl, MutSpan(back), key.data(), 5, Span(ct), Span()));
      BOOST_TEST(std::string(back.begin(), back.end()) == msg);
      BOOST_TEST(!open_with(impl, MutSpan(back), key.data(), 6, Span(ct), Span()));
    }
  }
}

BOOST_AUTO_TEST_CASE(each_opens_what_the_other_sealed_in_place_at_every_size) {
  std::vector<std::uint8_t> key(32);
  random_bytes(MutSpan(key));
  const std::vector<std::uint8_t> ad = hex("50515253c0c1c2c3c4c5c6c7");
  for (std::size_t size : {0u, 1u, 15u, 16u, 63u, 64u, 65u, 255u, 256u, 257u, 1280u, 1420u,
                           1440u, 4096u, 65000u}) {
    for (AeadImpl sealer : kBoth) {
      const AeadImpl opener = sealer == AeadImpl::OpenSsl ? AeadImpl::Libsodium : AeadImpl::OpenSsl;
      BOOST_TEST_CONTEXT(size << " B sealed by " << to_string(sealer)) {
        std::vector<std::uint8_t> plain(size);
        random_bytes(MutSpan(plain));
        std::vector<std::uint8_t> a(size + kTagSize), b(size + kTagSize);
        std::copy(plain.begin(), plain.end(), a.begin());
        seal_with(sealer, MutSpan(a), key.data(), 1ull << 40, Span(a.data(), size), Span(ad));
        seal_with(opener, MutSpan(b), key.data(), 1ull << 40, Span(plain), Span(ad));
        BOOST_TEST(a == b);  // same bytes from both
        BOOST_TEST(open_with(opener, MutSpan(a.data(), size), key.data(), 1ull << 40, Span(a),
                             Span(ad)));
        BOOST_TEST((std::vector<std::uint8_t>(a.begin(), a.begin() + long(size)) == plain));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(each_refuses_a_flipped_bit_wrong_ad_and_a_short_message) {
  const auto key = test_key();
  for (AeadImpl impl : kBoth) {
    BOOST_TEST_CONTEXT(to_string(impl)) {
      std::vector<std::uint8_t> ct(300 + kTagSize, 0x11);
      seal_with(impl, MutSpan(ct), key.data(), 9, Span(ct.data(), 300), Span());
      std::vector<std::uint8_t> out(300);
      for (std::size_t at : {0u, 150u, 299u, 300u, 315u}) {
        auto forged = ct;
        forged[at] ^= 0x01;
        BOOST_TEST(!open_with(impl, MutSpan(out), key.data(), 9, Span(forged), Span()));
      }
      const std::uint8_t other[] = {1};
      BOOST_TEST(!open_with(impl, MutSpan(out), key.data(), 9, Span(ct), Span(other, 1)));
      BOOST_TEST(!open_with(impl, MutSpan(out), key.data(), 9, Span(ct.data(), kTagSize - 1),
                            Span()));
      BOOST_TEST(open_with(impl, MutSpan(out), key.data(), 9, Span(ct), Span()));
    }
  }
}

BOOST_AUTO_TEST_CASE(seal_and_open_dispatch_by_size_class) {
  ChoiceGuard guard;
  const auto key = test_key();
  for (AeadChoice choice : {AeadChoice{AeadImpl::Libsodium, AeadImpl::OpenSsl},
                            AeadChoice{AeadImpl::OpenSsl, AeadImpl::Libsodium},
                            AeadChoice{AeadImpl::OpenSsl, AeadImpl::OpenSsl}}) {
    use_aead(choice);
    BOOST_TEST((aead_choice().small == choice.small && aead_choice().large == choice.large));
    for (std::size_t size : {std::size_t(64), kAeadLargeFrom - 1, kAeadLargeFrom, std::size_t(1420)}) {
      std::vector<std::uint8_t> buf(size + kTagSize, 0x5a), ref(size + kTagSize);
      seal(MutSpan(buf), key.data(), 3, Span(buf.data(), size), Span());
      const std::vector<std::uint8_t> plain(size, 0x5a);
      seal_with(AeadImpl::Libsodium, MutSpan(ref), key.data(), 3, Span(plain), Span());
      BOOST_TEST(buf == ref);
      BOOST_TEST(open(MutSpan(buf.data(), size), key.data(), 3, Span(buf), Span()));
    }
  }
}

BOOST_AUTO_TEST_CASE(the_choice_follows_the_measurement) {
  AeadTiming t;
  t.openssl_available = true;
  t.libsodium_64 = 100, t.openssl_64 = 120, t.libsodium_1420 = 1800, t.openssl_1420 = 800;
  const AeadChoice c = fastest(t);
  BOOST_TEST((c.small == AeadImpl::Libsodium && c.large == AeadImpl::OpenSsl));
  BOOST_TEST(describe(c, t).find("openssl from 256 B") != std::string::npos);
  t.openssl_available = false;
  BOOST_TEST((fastest(t).large == AeadImpl::Libsodium));
}
