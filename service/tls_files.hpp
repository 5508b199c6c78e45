#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

namespace grpc {
class ServerCredentials;
} // namespace grpc

namespace mm {

struct node_config;

/// The PEM texts of --tls-cert, --tls-key and --tls-client-ca.
struct tls_material {
  std::string cert_chain;
  std::string key;
  std::string client_ca;
};

/// Reads the TLS files of `cfg` and checks them: the chain and the CA parse
/// as certificates, the key as a private key, and the key is the
/// certificate's. Fails with `ec::bad_config` and what is wrong, naming the
/// flag (see `text_of`).
caf::expected<tls_material> read_tls_files(const node_config& cfg);

/// The gRPC port's TLS credentials, reloadable without dropping a
/// connection: gRPC's FileWatcherCertificateProvider watches in-memory
/// files (memfd) that hold what the node last read and checked, and
/// `reload` swaps them atomically (dup2) for the files' current contents.
/// gRPC picks up the new ones within a second, for new handshakes;
/// established connections and their streams keep theirs.
class tls_credentials {
public:
  tls_credentials();
  ~tls_credentials();
  tls_credentials(const tls_credentials&) = delete;
  tls_credentials& operator=(const tls_credentials&) = delete;

  /// Reads and checks the files of `cfg` and builds the credentials.
  /// Fails with `ec::bad_config` and what is wrong.
  caf::error start(const node_config& cfg);

  /// The server credentials (after a successful `start`).
  std::shared_ptr<grpc::ServerCredentials> credentials() const;

  /// Rereads the files; if they check out, they take the place of the old
  /// ones. Fails with `ec::bad_config` and what is wrong (the old ones
  /// stay).
  caf::error reload();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mm
