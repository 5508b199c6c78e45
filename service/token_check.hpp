#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/fwd.hpp>

namespace mm {

/// The one algorithm a node accepts, fixed by the type of its key: a token
/// that names another one (`none`, or HS256 signed with an RSA public key as
/// the HMAC secret) is refused before its signature is looked at.
enum class token_alg { hs256, rs256, es256 };

/// The name of `x` as a token's `alg` header spells it ("HS256").
const char* to_string(token_alg x);

/// The key of `--jwt-key-file`.
struct token_key {
  token_alg alg = token_alg::hs256;
  /// The shared secret (HS256) or the public key in PEM (RS256, ES256).
  std::string material;
};

/// Reads `text` as a key: a PEM public key (RSA: RS256; EC on P-256: ES256),
/// else a shared secret of at least 32 bytes (HS256; one trailing newline is
/// not part of it). Fails with `ec::bad_config` and what is wrong (see
/// `text_of`).
caf::expected<token_key> parse_token_key(const std::string& text);

/// Reads the key file `path` (see `parse_token_key`); the error's text
/// names the file.
caf::expected<token_key> load_token_key(const std::string& path);

/// Why a call's credentials were refused (all UNAUTHENTICATED).
enum class token_error {
  none,
  /// No `authorization` metadata.
  missing,
  /// Not `Bearer <JWT>`, not a JWT, or without the claims we need.
  malformed,
  /// Wrong algorithm for the key, or a signature the key does not verify.
  bad_signature,
  /// `exp` has passed (or `nbf` has not come yet).
  expired,
};

/// What a verified token grants.
struct token_claims {
  /// `sub`: the caller's identity.
  std::string subject;
  /// `exp`, in seconds since the epoch.
  int64_t expires = 0;
  /// Whether a `tickers` claim limits what may be subscribed ...
  bool restricted = false;
  /// ... to these exact names and prefixes (ending in `*`), upper-cased.
  std::vector<std::string> tickers;
};

/// The outcome of checking one token.
struct token_verdict {
  token_error error = token_error::none;
  /// The message of the UNAUTHENTICATED status (empty when accepted). It
  /// says which check failed, never anything about the key.
  std::string message;
  token_claims claims;
};

/// Checks `token` (the JWT itself) against `key` at `now` (seconds since the
/// epoch): algorithm, signature, `sub` (a non-empty string), `exp` (required,
/// in the future), `nbf` (if present, not in the future) and the optional
/// `tickers` claim (a list of strings). Pure: no I/O besides the crypto.
token_verdict check_token(std::string_view token, const token_key& key,
                          int64_t now);

/// Checks the value of an `authorization` metadata entry: `Bearer <JWT>`
/// (scheme case-insensitive). `present` false: there was none.
token_verdict check_authorization(bool present, std::string_view value,
                                  const token_key& key, int64_t now);

/// Whether `ticker` (normalized) is one of `patterns`: an exact name or a
/// prefix ending in `*` ("*" alone: every ticker).
bool ticker_allowed(const std::vector<std::string>& patterns,
                    const std::string& ticker);

} // namespace mm
