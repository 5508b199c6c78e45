// libFuzzer target: the token/metadata path of --auth jwt
// (service/token_check). Arbitrary `authorization` values, and arbitrary
// claims in tokens that carry a valid signature, must be answered without a
// crash, with a message that says why when refused and never a byte of the
// key, and an accepted token must satisfy what docs/security.md promises.
//
// Input layout: byte 0 picks the mode. Even: the rest is the metadata value
// as a client sent it. Odd: the rest is the claims JSON of a token signed
// with the server's key (so the claims checks run after a good signature).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <jwt.h>

#include <caf/expected.hpp>

#include "service/token_check.hpp"

namespace {

constexpr int64_t now = 1'800'000'000;

const std::string secret = "fuzzing-secret-0123456789abcdef-0123456789";

void check(bool ok, const char* what) {
  if (ok)
    return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

const mm::token_key& key() {
  static mm::token_key k = [] {
    auto x = mm::parse_token_key(secret);
    check(static_cast<bool>(x), "the key loads");
    return *x;
  }();
  return k;
}

/// A token over `claims` signed with the key; empty if libjwt refuses the
/// JSON.
std::string signed_token(const std::string& claims) {
  jwt_t* j = nullptr;
  if (jwt_new(&j) != 0)
    return {};
  std::string result;
  if (jwt_add_grants_json(j, claims.c_str()) == 0
      && jwt_set_alg(j, JWT_ALG_HS256,
                     reinterpret_cast<const unsigned char*>(secret.data()),
                     static_cast<int>(secret.size()))
           == 0) {
    if (char* s = jwt_encode_str(j)) {
      result = s;
      free(s);
    }
  }
  jwt_free(j);
  return result;
}

void check_verdict(const mm::token_verdict& v) {
  if (v.error == mm::token_error::none) {
    check(v.message.empty(), "an accepted token has no message");
    check(!v.claims.subject.empty(), "an accepted token names a subject");
    check(v.claims.expires > now, "an accepted token has not expired");
    check(v.claims.restricted || v.claims.tickers.empty(),
          "tickers only with the claim");
    for (const auto& p : v.claims.tickers) {
      check(!p.empty(), "no empty ticker pattern");
      mm::ticker_allowed(v.claims.tickers, p);
    }
  } else {
    check(!v.message.empty(), "a refusal says why");
    check(v.message.find(secret.substr(0, 12)) == std::string::npos,
          "a refusal never shows the key");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string rest{reinterpret_cast<const char*>(data + 1), size - 1};
  if (data[0] % 2 == 0) {
    auto v = mm::check_authorization(true, rest, key(), now);
    check_verdict(v);
    // The same answer twice: nothing is kept between calls.
    auto again = mm::check_authorization(true, rest, key(), now);
    check(again.error == v.error && again.message == v.message,
          "the same input gets the same answer");
    return 0;
  }
  if (rest.find('\0') != std::string::npos)
    return 0;
  auto token = signed_token(rest);
  if (token.empty())
    return 0;
  auto v = mm::check_token(token, key(), now);
  check(v.error != mm::token_error::bad_signature,
        "a token signed with the key has a good signature");
  check(v.error != mm::token_error::missing, "a token is not missing");
  check_verdict(v);
  return 0;
}
