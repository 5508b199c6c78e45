// Startup configuration that cannot be used (service/tls_files.hpp,
// service/auth.hpp): each fails with ec::bad_config and the text mm-server
// prints before it exits 2, naming the flag and the file.

#include "service/tls_files.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/errors.hpp"
#include "actors/node_config.hpp"
#include "service/auth.hpp"

namespace {

using mm::ec;

/// A temporary file holding `text`, removed with the object.
struct temp_file {
  explicit temp_file(const std::string& text) {
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream{path} << text;
  }
  ~temp_file() {
    std::remove(path);
  }
  char path[32] = "/tmp/mm-tls-files-XXXXXX";
};

/// The text of `err` after checking that it is ec::bad_config.
std::string bad_config_text(const caf::error& err) {
  EXPECT_EQ(mm::code_of(err), ec::bad_config) << mm::text_of(err);
  return mm::text_of(err);
}

TEST(tls_files, a_missing_file_is_named_with_its_flag) {
  mm::node_config cfg;
  cfg.tls_cert = "/nonexistent/cert.pem";
  cfg.tls_key = "/nonexistent/key.pem";
  auto m = mm::read_tls_files(cfg);
  ASSERT_FALSE(m);
  EXPECT_EQ(bad_config_text(m.error()),
            "--tls-cert: cannot read \"/nonexistent/cert.pem\"");
  mm::tls_credentials creds;
  EXPECT_EQ(bad_config_text(creds.start(cfg)),
            "--tls-cert: cannot read \"/nonexistent/cert.pem\"");
}

TEST(tls_files, a_file_without_a_certificate_is_named) {
  temp_file cert{"not a certificate\n"};
  temp_file key{"not a key either\n"};
  mm::node_config cfg;
  cfg.tls_cert = cert.path;
  cfg.tls_key = key.path;
  auto m = mm::read_tls_files(cfg);
  ASSERT_FALSE(m);
  EXPECT_EQ(bad_config_text(m.error()), "--tls-cert: \""
                                          + std::string{cert.path}
                                          + "\" holds no PEM certificate");
}

TEST(auth, a_missing_token_key_file_is_named_with_its_flag) {
  mm::node_config cfg;
  cfg.auth = "jwt";
  cfg.jwt_key_file = "/nonexistent/jwt.key";
  mm::authenticator auth;
  EXPECT_EQ(bad_config_text(auth.configure(cfg)),
            "--jwt-key-file: cannot read \"/nonexistent/jwt.key\"");
  EXPECT_EQ(bad_config_text(auth.reload()),
            "--jwt-key-file: cannot read \"/nonexistent/jwt.key\"");
}

TEST(auth, without_jwt_there_is_nothing_to_load) {
  mm::node_config cfg;
  mm::authenticator auth;
  auto err = auth.configure(cfg);
  EXPECT_FALSE(err) << mm::text_of(err);
}

} // namespace
