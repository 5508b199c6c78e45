#include "service/tls_files.hpp"

#include <fstream>
#include <iterator>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/errors.hpp"
#include "actors/node_config.hpp"

namespace mm {

namespace {

/// How often gRPC looks at the in-memory files for a new version.
constexpr unsigned refresh_interval_sec = 1;

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return false;
  out.assign(std::istreambuf_iterator<char>{in},
             std::istreambuf_iterator<char>{});
  return static_cast<bool>(in) || in.eof();
}

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

bio_ptr bio_of(const std::string& text) {
  return {BIO_new_mem_buf(text.data(), static_cast<int>(text.size())),
          BIO_free};
}

x509_ptr first_certificate(const std::string& pem) {
  auto bio = bio_of(pem);
  return {PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free};
}

/// An in-memory file holding `text`; -1 on failure.
int memory_file(const std::string& text) {
  int fd = memfd_create("mm-tls", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return fd;
}

std::string path_of(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

caf::error bad_config(std::string what) {
  return caf::make_error(ec::bad_config, std::move(what));
}

} // namespace

caf::expected<tls_material> read_tls_files(const node_config& cfg) {
  tls_material out;
  if (!read_file(cfg.tls_cert, out.cert_chain))
    return bad_config("--tls-cert: cannot read \"" + cfg.tls_cert + "\"");
  if (!read_file(cfg.tls_key, out.key))
    return bad_config("--tls-key: cannot read \"" + cfg.tls_key + "\"");
  auto cert = first_certificate(out.cert_chain);
  if (!cert)
    return bad_config("--tls-cert: \"" + cfg.tls_cert
                      + "\" holds no PEM certificate");
  auto bio = bio_of(out.key);
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
               EVP_PKEY_free};
  if (!key) {
    ERR_clear_error();
    return bad_config("--tls-key: \"" + cfg.tls_key
                      + "\" holds no PEM private key (or it is encrypted)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return bad_config("--tls-key: \"" + cfg.tls_key
                      + "\" is not the private key of the certificate in \""
                      + cfg.tls_cert + "\"");
  }
  if (!cfg.tls_client_ca.empty()) {
    if (!read_file(cfg.tls_client_ca, out.client_ca))
      return bad_config("--tls-client-ca: cannot read \"" + cfg.tls_client_ca
                        + "\"");
    if (!first_certificate(out.client_ca)) {
      ERR_clear_error();
      return bad_config("--tls-client-ca: \"" + cfg.tls_client_ca
                        + "\" holds no PEM certificate");
    }
  }
  ERR_clear_error();
  return out;
}

struct tls_credentials::impl {
  const node_config* cfg = nullptr;
  std::mutex mtx;
  /// The key followed by the chain (one file, so that a swap never pairs
  /// a new key with an old certificate), and the client CA.
  int identity_fd = -1;
  int ca_fd = -1;
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider;
  std::shared_ptr<grpc::ServerCredentials> creds;

  /// Puts `text` into the in-memory file `fd` (a new one if -1).
  caf::error install(int& fd, const std::string& text) {
    auto fresh = memory_file(text);
    if (fresh < 0)
      return bad_config("cannot create an in-memory file for the TLS material");
    if (fd < 0) {
      fd = fresh;
      return caf::none;
    }
    // Atomic: a reader opens either the old file or the new one.
    auto ok = ::dup2(fresh, fd) >= 0;
    ::close(fresh);
    if (!ok)
      return bad_config("cannot swap the TLS material");
    return caf::none;
  }

  caf::error install_all(const tls_material& m) {
    if (auto err = install(identity_fd, m.key + "\n" + m.cert_chain))
      return err;
    if (!m.client_ca.empty())
      return install(ca_fd, m.client_ca);
    return caf::none;
  }
};

tls_credentials::tls_credentials() : impl_(std::make_unique<impl>()) {
  // nop
}

tls_credentials::~tls_credentials() {
  impl_->creds.reset();
  impl_->provider.reset();
  if (impl_->identity_fd >= 0)
    ::close(impl_->identity_fd);
  if (impl_->ca_fd >= 0)
    ::close(impl_->ca_fd);
}

caf::error tls_credentials::start(const node_config& cfg) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->cfg = &cfg;
  auto m = read_tls_files(cfg);
  if (!m)
    return std::move(m.error());
  if (auto err = impl_->install_all(*m))
    return err;
  auto identity = path_of(impl_->identity_fd);
  auto mtls = !cfg.tls_client_ca.empty();
  impl_->provider =
    std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      identity, identity, mtls ? path_of(impl_->ca_fd) : std::string{},
      refresh_interval_sec);
  grpc::experimental::TlsServerCredentialsOptions opts{impl_->provider};
  opts.watch_identity_key_cert_pairs();
  if (mtls) {
    opts.watch_root_certs();
    opts.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    opts.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  impl_->creds = grpc::experimental::TlsServerCredentials(opts);
  if (!impl_->creds)
    return bad_config("cannot build the TLS credentials of the gRPC port");
  return caf::none;
}

std::shared_ptr<grpc::ServerCredentials> tls_credentials::credentials() const {
  return impl_->creds;
}

caf::error tls_credentials::reload() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (impl_->cfg == nullptr || !impl_->creds)
    return caf::none;
  auto m = read_tls_files(*impl_->cfg);
  if (!m)
    return std::move(m.error());
  return impl_->install_all(*m);
}

} // namespace mm
