#include "service/token_check.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/errors.hpp"

namespace mm {

namespace {

/// Longest token we look at: a JWT with a few claims is a few hundred bytes.
constexpr size_t max_token_size = 8192;

/// Smallest HS256 secret: the hash's size (RFC 7518 section 3.2).
constexpr size_t min_secret_size = 32;

jwt_alg_t to_jwt(token_alg x) {
  switch (x) {
    case token_alg::rs256: return JWT_ALG_RS256;
    case token_alg::es256: return JWT_ALG_ES256;
    default: return JWT_ALG_HS256;
  }
}

struct jwt_deleter {
  void operator()(jwt_t* x) const {
    jwt_free(x);
  }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct pkey_deleter {
  void operator()(EVP_PKEY* x) const {
    EVP_PKEY_free(x);
  }
};

token_verdict refuse(token_error error, std::string message) {
  token_verdict result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

token_verdict malformed(const std::string& why) {
  return refuse(token_error::malformed, "malformed token: " + why);
}

/// The claims of a verified token into `out`; returns what is wrong with
/// them, or an empty string.
std::string read_claims(const std::string& json, token_claims& out,
                        int64_t& nbf) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS
      || doc.type() != simdjson::dom::element_type::OBJECT)
    return "the claims are not a JSON object";
  std::string_view sub;
  if (doc["sub"].get(sub) != simdjson::SUCCESS || sub.empty())
    return "no \"sub\" claim (a non-empty string naming the caller)";
  out.subject = std::string{sub};
  auto seconds = [](simdjson::dom::element x, int64_t& value) {
    int64_t i;
    if (x.get(i) == simdjson::SUCCESS) {
      value = i;
      return true;
    }
    double d;
    if (x.get(d) == simdjson::SUCCESS && std::isfinite(d) && d > -1e15
        && d < 1e15) {
      value = static_cast<int64_t>(std::floor(d));
      return true;
    }
    return false;
  };
  simdjson::dom::element exp;
  if (doc["exp"].get(exp) != simdjson::SUCCESS)
    return "no \"exp\" claim (tokens must expire)";
  if (!seconds(exp, out.expires))
    return "the \"exp\" claim is not a number of seconds";
  simdjson::dom::element nbf_claim;
  if (doc["nbf"].get(nbf_claim) == simdjson::SUCCESS
      && !seconds(nbf_claim, nbf))
    return "the \"nbf\" claim is not a number of seconds";
  simdjson::dom::element tickers;
  if (doc["tickers"].get(tickers) == simdjson::SUCCESS) {
    simdjson::dom::array list;
    if (tickers.get(list) != simdjson::SUCCESS)
      return "the \"tickers\" claim is not a list of strings";
    out.restricted = true;
    for (auto x : list) {
      std::string_view name;
      if (x.get(name) != simdjson::SUCCESS || name.empty())
        return "the \"tickers\" claim is not a list of non-empty strings";
      std::string pattern{name};
      for (auto& c : pattern)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.tickers.push_back(std::move(pattern));
    }
  }
  return {};
}

/// Decodes unpadded base64url `in` into `out`; false if it is not.
bool base64url_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '-')
      return 62;
    if (c == '_')
      return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=')
    in.remove_suffix(1);
  if (in.empty() || in.size() % 4 == 1)
    return false;
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (auto c : in) {
    auto v = value(c);
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

/// The `alg` of a JWT header (JSON) into `out`; returns what is wrong.
std::string header_alg(const std::string& header, std::string& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(header).get(doc) != simdjson::SUCCESS
      || doc.type() != simdjson::dom::element_type::OBJECT)
    return "the header is not a JSON object";
  std::string_view alg;
  if (doc["alg"].get(alg) != simdjson::SUCCESS)
    return "the header names no algorithm";
  out = std::string{alg};
  return {};
}

} // namespace

const char* to_string(token_alg x) {
  switch (x) {
    case token_alg::rs256: return "RS256";
    case token_alg::es256: return "ES256";
    default: return "HS256";
  }
}

caf::expected<token_key> parse_token_key(const std::string& text) {
  auto bad = [](std::string what) {
    return caf::make_error(ec::bad_config, std::move(what));
  };
  token_key out;
  if (text.find("-----BEGIN") != std::string::npos) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free};
    std::unique_ptr<EVP_PKEY, pkey_deleter> pkey{
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)};
    if (!pkey)
      return bad("not a PEM public key (give the public half: "
                 "openssl pkey -in KEY -pubout)");
    switch (EVP_PKEY_get_base_id(pkey.get())) {
      case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey.get()) < 2048)
          return bad("the RSA key has fewer than 2048 bits");
        out.alg = token_alg::rs256;
        break;
      case EVP_PKEY_EC: {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof(group), &len) != 1
            || std::string{group} != "prime256v1")
          return bad("the EC key is not on the P-256 curve (ES256)");
        out.alg = token_alg::es256;
        break;
      }
      default: return bad("the public key is neither RSA nor EC");
    }
    out.material = text;
    return out;
  }
  auto secret = text;
  if (!secret.empty() && secret.back() == '\n')
    secret.pop_back();
  if (!secret.empty() && secret.back() == '\r')
    secret.pop_back();
  if (secret.size() < min_secret_size)
    return bad("a shared secret (HS256) needs at least "
               + std::to_string(min_secret_size) + " bytes, this one has "
               + std::to_string(secret.size()));
  out.alg = token_alg::hs256;
  out.material = std::move(secret);
  return out;
}

caf::expected<token_key> load_token_key(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(ec::bad_config, "cannot read \"" + path + "\"");
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  auto key = parse_token_key(text);
  if (!key)
    return caf::make_error(ec::bad_config,
                           "\"" + path + "\": " + text_of(key.error()));
  return key;
}

token_verdict check_token(std::string_view token, const token_key& key,
                          int64_t now) {
  if (token.empty())
    return malformed("the bearer token is empty");
  if (token.size() > max_token_size)
    return malformed("longer than " + std::to_string(max_token_size)
                     + " bytes");
  for (auto c : token)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_'
        && c != '.' && c != '=')
      return malformed("not a JWT (base64url parts separated by dots)");
  std::string text{token};
  // First the structure and the header's algorithm, before libjwt sees the
  // key.
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos
      || token.find('.', dot2 + 1) != std::string_view::npos)
    return malformed("not a JWT (three base64url parts separated by dots)");
  std::string header;
  if (!base64url_decode(token.substr(0, dot1), header))
    return malformed("the header is not base64url");
  std::string alg;
  if (auto what = header_alg(header, alg); !what.empty())
    return malformed(what);
  if (alg != to_string(key.alg))
    // The classic confusions (alg none, HS256 with the public key as the
    // secret) end here: the key's type fixes the algorithm.
    return refuse(token_error::bad_signature, "bad signature: algorithm "
                                                + alg.substr(0, 16)
                                                + " is not accepted");
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, text.c_str(),
                 reinterpret_cast<const unsigned char*>(key.material.data()),
                 static_cast<int>(key.material.size()))
        != 0
      || raw == nullptr) {
    jwt_free(raw);
    return refuse(token_error::bad_signature,
                  "bad signature: the token was not signed with this "
                  "server's key");
  }
  jwt_ptr verified{raw};
  if (jwt_get_alg(verified.get()) != to_jwt(key.alg))
    return refuse(token_error::bad_signature,
                  "bad signature: algorithm is not accepted");
  std::unique_ptr<char, decltype(&free)> json{
    jwt_get_grants_json(verified.get(), nullptr), free};
  if (!json)
    return malformed("the claims are not a JSON object");
  token_verdict result;
  int64_t nbf = 0;
  if (auto what = read_claims(json.get(), result.claims, nbf); !what.empty())
    return malformed(what);
  if (result.claims.expires <= now)
    return refuse(token_error::expired,
                  "token expired " + std::to_string(now - result.claims.expires)
                    + " s ago");
  if (nbf > now)
    return refuse(token_error::expired, "token not valid yet (nbf is "
                                          + std::to_string(nbf - now)
                                          + " s ahead)");
  return result;
}

token_verdict check_authorization(bool present, std::string_view value,
                                  const token_key& key, int64_t now) {
  if (!present)
    return refuse(token_error::missing,
                  "missing credentials: send \"authorization: Bearer "
                  "<token>\" metadata");
  constexpr std::string_view scheme = "bearer ";
  if (value.size() < scheme.size())
    return malformed("the authorization metadata is not \"Bearer <token>\"");
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i])
      return malformed("the authorization metadata is not \"Bearer <token>\"");
  auto token = value.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ')
    token.remove_suffix(1);
  return check_token(token, key, now);
}

bool ticker_allowed(const std::vector<std::string>& patterns,
                    const std::string& ticker) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (ticker.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0)
        return true;
    } else if (p == ticker) {
      return true;
    }
  }
  return false;
}

} // namespace mm
