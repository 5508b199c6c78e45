// service/token_check: the JWT checks of --auth jwt and the tickers claim,
// as pure functions (tokens made with libjwt here, keys with openssl).

#include "service/token_check.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>
#include <jwt.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/errors.hpp"

using namespace mm;

namespace {

constexpr int64_t now = 1'800'000'000;

const std::string secret = "0123456789abcdef0123456789abcdef-test";

/// Runs a shell command; fails the test on a non-zero status.
void sh(const std::string& cmd) {
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// A token signed with `alg` and `key` carrying `claims` (JSON).
std::string make_token(jwt_alg_t alg, const std::string& key,
                       const std::string& claims) {
  jwt_t* j = nullptr;
  jwt_new(&j);
  EXPECT_EQ(jwt_add_grants_json(j, claims.c_str()), 0) << claims;
  EXPECT_EQ(jwt_set_alg(j, alg,
                        alg == JWT_ALG_NONE
                          ? nullptr
                          : reinterpret_cast<const unsigned char*>(key.data()),
                        alg == JWT_ALG_NONE ? 0 : static_cast<int>(key.size())),
            0);
  char* s = jwt_encode_str(j);
  std::string result = s ? s : "";
  free(s);
  jwt_free(j);
  return result;
}

std::string claims(const std::string& sub, int64_t exp,
                   const std::string& extra = "") {
  return "{\"sub\":\"" + sub + "\",\"exp\":" + std::to_string(exp) + extra
         + "}";
}

/// The text of `x`'s error (checked to be ec::bad_config), or "" if `x`
/// holds a key.
std::string why_of(const caf::expected<token_key>& x) {
  if (x)
    return {};
  EXPECT_EQ(code_of(x.error()), ec::bad_config);
  return text_of(x.error());
}

token_key hs_key() {
  auto key = parse_token_key(secret + "\n");
  EXPECT_EQ(why_of(key), "");
  if (!key)
    return {};
  EXPECT_EQ(key->alg, token_alg::hs256);
  EXPECT_EQ(key->material, secret);
  return *key;
}

/// An RSA or EC key pair made with openssl into a temporary directory.
struct key_pair {
  std::string dir;
  std::string private_pem;
  std::string public_pem;

  explicit key_pair(const std::string& kind) {
    char tmpl[] = "/tmp/mm-token-test-XXXXXX";
    dir = mkdtemp(tmpl);
    auto priv = dir + "/key.pem";
    auto pub = dir + "/pub.pem";
    if (kind == "rsa")
      sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
         + priv + " 2>/dev/null");
    else
      sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "
         + priv + " 2>/dev/null");
    sh("openssl pkey -in " + priv + " -pubout -out " + pub);
    private_pem = slurp(priv);
    public_pem = slurp(pub);
  }

  ~key_pair() {
    std::system(("rm -rf " + dir).c_str());
  }
};

} // namespace

TEST(token_check, accepts_a_good_hs256_token) {
  auto key = hs_key();
  auto t = make_token(JWT_ALG_HS256, secret, claims("alice", now + 60));
  auto v = check_token(t, key, now);
  EXPECT_EQ(v.error, token_error::none) << v.message;
  EXPECT_EQ(v.claims.subject, "alice");
  EXPECT_EQ(v.claims.expires, now + 60);
  EXPECT_FALSE(v.claims.restricted);
  auto h = check_authorization(true, "Bearer " + t, key, now);
  EXPECT_EQ(h.error, token_error::none) << h.message;
  auto lower = check_authorization(true, "bearer " + t, key, now);
  EXPECT_EQ(lower.error, token_error::none) << lower.message;
}

TEST(token_check, missing_and_malformed_say_so) {
  auto key = hs_key();
  auto missing = check_authorization(false, "", key, now);
  EXPECT_EQ(missing.error, token_error::missing);
  EXPECT_NE(missing.message.find("missing"), std::string::npos);
  auto t = make_token(JWT_ALG_HS256, secret, claims("alice", now + 60));
  for (std::string bad :
       {std::string{""}, std::string{"Basic abc"}, std::string{"Bearer"},
        "Bearer " + t.substr(0, t.size() / 2) + "%", std::string{"Bearer abc"},
        std::string{"Bearer a.b.c"}, "Token " + t}) {
    auto v = check_authorization(true, bad, key, now);
    EXPECT_EQ(v.error, token_error::malformed) << bad << ": " << v.message;
    EXPECT_NE(v.message.find("malformed"), std::string::npos) << v.message;
  }
  // A token cut short: the signature no longer verifies, or the parts do
  // not decode; never accepted.
  auto truncated = check_token(t.substr(0, t.size() - 6), key, now);
  EXPECT_NE(truncated.error, token_error::none);
  auto no_sig = check_token(t.substr(0, t.rfind('.')), key, now);
  EXPECT_NE(no_sig.error, token_error::none);
}

TEST(token_check, claims_that_are_required) {
  auto key = hs_key();
  auto no_sub =
    check_token(make_token(JWT_ALG_HS256, secret,
                           "{\"exp\":" + std::to_string(now + 60) + "}"),
                key, now);
  EXPECT_EQ(no_sub.error, token_error::malformed);
  EXPECT_NE(no_sub.message.find("sub"), std::string::npos);
  auto empty_sub =
    check_token(make_token(JWT_ALG_HS256, secret, claims("", now + 60)), key,
                now);
  EXPECT_EQ(empty_sub.error, token_error::malformed);
  auto no_exp =
    check_token(make_token(JWT_ALG_HS256, secret, "{\"sub\":\"alice\"}"), key,
                now);
  EXPECT_EQ(no_exp.error, token_error::malformed);
  EXPECT_NE(no_exp.message.find("exp"), std::string::npos);
  auto bad_tickers =
    check_token(make_token(JWT_ALG_HS256, secret,
                           claims("alice", now + 60, ",\"tickers\":\"AAPL\"")),
                key, now);
  EXPECT_EQ(bad_tickers.error, token_error::malformed);
  EXPECT_NE(bad_tickers.message.find("tickers"), std::string::npos);
}

TEST(token_check, expired_and_not_yet_valid) {
  auto key = hs_key();
  auto expired =
    check_token(make_token(JWT_ALG_HS256, secret, claims("alice", now - 1)),
                key, now);
  EXPECT_EQ(expired.error, token_error::expired);
  EXPECT_NE(expired.message.find("expired"), std::string::npos);
  auto at_exp =
    check_token(make_token(JWT_ALG_HS256, secret, claims("alice", now)), key,
                now);
  EXPECT_EQ(at_exp.error, token_error::expired);
  auto early =
    check_token(make_token(JWT_ALG_HS256, secret,
                           claims("alice", now + 60,
                                  ",\"nbf\":" + std::to_string(now + 30))),
                key, now);
  EXPECT_EQ(early.error, token_error::expired);
}

TEST(token_check, wrong_key_is_a_bad_signature_without_details) {
  auto key = hs_key();
  auto t = make_token(JWT_ALG_HS256, secret + "x", claims("alice", now + 60));
  auto v = check_token(t, key, now);
  EXPECT_EQ(v.error, token_error::bad_signature);
  EXPECT_NE(v.message.find("bad signature"), std::string::npos);
  EXPECT_EQ(v.message.find(secret), std::string::npos);
  // A claim changed after signing.
  auto good = make_token(JWT_ALG_HS256, secret, claims("alice", now + 60));
  auto forged_body = make_token(JWT_ALG_HS256, secret + "x",
                                claims("mallory", now + 60));
  auto dot1 = good.find('.');
  auto dot2 = good.rfind('.');
  auto fdot1 = forged_body.find('.');
  auto fdot2 = forged_body.rfind('.');
  auto spliced = good.substr(0, dot1) + forged_body.substr(fdot1, fdot2 - fdot1)
                 + good.substr(dot2);
  EXPECT_EQ(check_token(spliced, key, now).error, token_error::bad_signature);
}

TEST(token_check, alg_none_is_refused) {
  auto key = hs_key();
  auto t = make_token(JWT_ALG_NONE, "", claims("mallory", now + 60));
  auto v = check_token(t, key, now);
  EXPECT_EQ(v.error, token_error::bad_signature);
  EXPECT_NE(v.message.find("none"), std::string::npos) << v.message;
}

TEST(token_check, rs256_and_the_key_confusion_attack) {
  key_pair rsa{"rsa"};
  auto parsed = parse_token_key(rsa.public_pem);
  ASSERT_EQ(why_of(parsed), "");
  auto key = *parsed;
  EXPECT_EQ(key.alg, token_alg::rs256);
  auto good = make_token(JWT_ALG_RS256, rsa.private_pem,
                         claims("svc", now + 60));
  auto v = check_token(good, key, now);
  EXPECT_EQ(v.error, token_error::none) << v.message;
  EXPECT_EQ(v.claims.subject, "svc");
  // HS256 with the public key as the HMAC secret: libjwt alone would
  // verify it; the key's type fixes the algorithm.
  auto forged = make_token(JWT_ALG_HS256, rsa.public_pem,
                           claims("mallory", now + 60));
  auto f = check_token(forged, key, now);
  EXPECT_EQ(f.error, token_error::bad_signature);
  EXPECT_NE(f.message.find("HS256"), std::string::npos) << f.message;
  // Another RSA key.
  key_pair other{"rsa"};
  auto wrong = make_token(JWT_ALG_RS256, other.private_pem,
                          claims("svc", now + 60));
  EXPECT_EQ(check_token(wrong, key, now).error, token_error::bad_signature);
  // An HS256 key refuses RS256 tokens too.
  EXPECT_EQ(check_token(good, hs_key(), now).error, token_error::bad_signature);
}

TEST(token_check, es256) {
  key_pair ec{"ec"};
  auto parsed = parse_token_key(ec.public_pem);
  ASSERT_EQ(why_of(parsed), "");
  auto key = *parsed;
  EXPECT_EQ(key.alg, token_alg::es256);
  auto good = make_token(JWT_ALG_ES256, ec.private_pem,
                         claims("svc", now + 60));
  auto v = check_token(good, key, now);
  EXPECT_EQ(v.error, token_error::none) << v.message;
  key_pair other{"ec"};
  auto wrong = make_token(JWT_ALG_ES256, other.private_pem,
                          claims("svc", now + 60));
  EXPECT_EQ(check_token(wrong, key, now).error, token_error::bad_signature);
}

TEST(token_check, keys_that_are_refused) {
  EXPECT_EQ(why_of(parse_token_key("short\n")),
            "a shared secret (HS256) needs at least 32 bytes, this one has 5");
  EXPECT_EQ(why_of(parse_token_key("-----BEGIN PUBLIC KEY-----\nxx\n-----END "
                                   "PUBLIC KEY-----\n")),
            "not a PEM public key (give the public half: openssl pkey -in KEY "
            "-pubout)");
  key_pair rsa{"rsa"};
  // The private half is not what the server needs (or should hold).
  EXPECT_NE(why_of(parse_token_key(rsa.private_pem)).find("public"),
            std::string::npos);
  EXPECT_EQ(why_of(load_token_key("/nonexistent/key")),
            "cannot read \"/nonexistent/key\"");
}

TEST(token_check, a_bad_key_file_is_named) {
  char path[] = "/tmp/mm-token-key-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "short\n", 6), 6);
  ::close(fd);
  EXPECT_EQ(why_of(load_token_key(path)),
            "\"" + std::string{path}
              + "\": a shared secret (HS256) needs at least 32 bytes, this "
                "one has 5");
  std::remove(path);
}

TEST(token_check, tickers_claim) {
  auto key = hs_key();
  auto t = make_token(JWT_ALG_HS256, secret,
                      claims("alice", now + 60,
                             ",\"tickers\":[\"aapl\",\"MS*\",\"BRK.B\"]"));
  auto v = check_token(t, key, now);
  ASSERT_EQ(v.error, token_error::none) << v.message;
  EXPECT_TRUE(v.claims.restricted);
  EXPECT_EQ(v.claims.tickers,
            (std::vector<std::string>{"AAPL", "MS*", "BRK.B"}));
  auto empty =
    check_token(make_token(JWT_ALG_HS256, secret,
                           claims("alice", now + 60, ",\"tickers\":[]")),
                key, now);
  ASSERT_EQ(empty.error, token_error::none);
  EXPECT_TRUE(empty.claims.restricted);
  EXPECT_TRUE(empty.claims.tickers.empty());
}

TEST(ticker_allowed, exact_names_and_prefixes) {
  std::vector<std::string> p{"AAPL", "MS*", "BRK.B"};
  EXPECT_TRUE(ticker_allowed(p, "AAPL"));
  EXPECT_FALSE(ticker_allowed(p, "AAPL2"));
  EXPECT_FALSE(ticker_allowed(p, "AAP"));
  EXPECT_TRUE(ticker_allowed(p, "MSFT"));
  EXPECT_TRUE(ticker_allowed(p, "MS"));
  EXPECT_FALSE(ticker_allowed(p, "M"));
  EXPECT_FALSE(ticker_allowed(p, "XMSFT"));
  EXPECT_TRUE(ticker_allowed(p, "BRK.B"));
  EXPECT_FALSE(ticker_allowed(p, "BRK.A"));
  EXPECT_TRUE(ticker_allowed({"*"}, "ANY"));
  EXPECT_FALSE(ticker_allowed({}, "AAPL"));
}
