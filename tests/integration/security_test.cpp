// The gRPC port's security (docs/security.md): TLS and mutual TLS with
// certificates made by openssl here, JWT tokens made with libjwt here,
// session ownership, a stream whose token expires, the secure-by-default
// refusal and the SIGHUP reload of the certificates. Real redis-server,
// real mm-server, real gRPC clients.

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <gtest/gtest.h>
#include <jwt.h>

#include "harness.hpp"
#include "node_stats.hpp"

namespace mm::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::trunc};
  out << text;
}

/// Runs `cmd` with sh; returns its exit status and, in `out`, what it
/// printed on stdout and stderr.
int run_shell(const std::string& cmd, std::string* out = nullptr) {
  std::string text;
  auto* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0)
    text.append(buf, n);
  auto rc = pclose(pipe);
  if (out)
    *out = text;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/// A temporary directory with a CA, two server certificates for
/// 127.0.0.1 (CN=server-one and CN=server-two), client certificates for
/// alice and bob, a client certificate of another CA, an HS256 secret and
/// an RSA key pair (the certificates on P-256 keys, which are quick to
/// make); all made with the openssl command line.
class pki {
public:
  pki() {
    char tmpl[] = "/tmp/mm-security-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string script = R"(set -e
cd ")" + dir_ + R"("
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.pem" \
    -days 2 -subj "/CN=$1" 2>/dev/null
}
leaf() { # name CN ca [server]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" \
    -subj "$2" 2>/dev/null
  if [ -n "$4" ]; then
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$1.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
  fi
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
    -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
ca ca
ca other-ca
leaf server-one "/CN=server-one" ca server
leaf server-two "/CN=server-two" ca server
leaf alice "/O=desk/CN=alice" ca
leaf bob "/O=desk/CN=bob" ca
leaf mallory "/O=desk/CN=alice" other-ca
head -c 48 /dev/urandom | base64 -w0 >secret.txt
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key \
  2>/dev/null
openssl pkey -in rsa.key -pubout -out rsa.pub
cp server-one.pem server.pem
cp server-one.key server.key
)";
    std::string out;
    auto rc = run_shell("bash -c '" + escape(script) + "'", &out);
    if (rc != 0)
      throw std::runtime_error("making certificates failed: " + out);
  }

  ~pki() {
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  std::string path(const std::string& name) const {
    return dir_ + "/" + name;
  }

  std::string read(const std::string& name) const {
    return slurp(path(name));
  }

private:
  static std::string escape(const std::string& s) {
    std::string r;
    for (auto c : s) {
      if (c == '\'')
        r += "'\\''";
      else
        r += c;
    }
    return r;
  }

  std::string dir_;
};

/// Adds `authorization: <value>` to every call of a channel.
class auth_interceptor final : public grpc::experimental::Interceptor {
public:
  explicit auth_interceptor(std::string value) : value_(std::move(value)) {
    // nop
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
          grpc::experimental::InterceptionHookPoints::
            PRE_SEND_INITIAL_METADATA))
      m->GetSendInitialMetadata()->insert({"authorization", value_});
    m->Proceed();
  }

private:
  std::string value_;
};

class auth_factory final
  : public grpc::experimental::ClientInterceptorFactoryInterface {
public:
  explicit auth_factory(std::string value) : value_(std::move(value)) {
    // nop
  }

  grpc::experimental::Interceptor*
  CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new auth_interceptor(value_);
  }

private:
  std::string value_;
};

/// A stub on a channel of its own (a fresh connection and handshake) with
/// `creds`; with `authorization` non-empty, every call carries it.
std::unique_ptr<pb::MarketMonitor::Stub>
stub_with(const std::string& target,
          std::shared_ptr<grpc::ChannelCredentials> creds,
          const std::string& authorization = "") {
  grpc::ChannelArguments args;
  // No connection shared with another stub of this process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  static int unique = 0;
  args.SetInt("mm.test.unique", ++unique);
  std::vector<
    std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
    interceptors;
  if (!authorization.empty())
    interceptors.push_back(std::make_unique<auth_factory>(authorization));
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
    target, creds, args, std::move(interceptors));
  return pb::MarketMonitor::NewStub(channel);
}

std::shared_ptr<grpc::ChannelCredentials>
tls_creds(const pki& p, const std::string& client = "") {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = p.read("ca.pem");
  if (!client.empty()) {
    opts.pem_private_key = p.read(client + ".key");
    opts.pem_cert_chain = p.read(client + ".pem");
  }
  return grpc::SslCredentials(opts);
}

std::string bearer(const std::string& token) {
  return "Bearer " + token;
}

/// A JWT made with libjwt: `alg` with `key` (ignored for none), `claims`.
std::string make_token(jwt_alg_t alg, const std::string& key,
                       const std::string& claims) {
  jwt_t* j = nullptr;
  jwt_new(&j);
  jwt_add_grants_json(j, claims.c_str());
  if (alg == JWT_ALG_NONE)
    jwt_set_alg(j, alg, nullptr, 0);
  else
    jwt_set_alg(j, alg, reinterpret_cast<const unsigned char*>(key.data()),
                static_cast<int>(key.size()));
  char* s = jwt_encode_str(j);
  std::string result = s ? s : "";
  free(s);
  jwt_free(j);
  return result;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string claims(const std::string& sub, int64_t exp,
                   const std::string& extra = "") {
  return "{\"sub\":\"" + sub + "\",\"exp\":" + std::to_string(exp) + extra
         + "}";
}

grpc::Status start_on(pb::MarketMonitor::Stub& stub,
                      const std::vector<std::string>& tickers,
                      std::string* id = nullptr) {
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(stub, tickers, {}, &res);
  if (id)
    *id = res.session_id();
  return st;
}

/// The status of a StreamPriceUpdates for `id` that is expected to end at
/// once.
grpc::Status stream_status(pb::MarketMonitor::Stub& stub,
                           const std::string& id) {
  auto reader = stream_reader::stream(stub, id);
  auto st = reader->wait_finished();
  if (!st)
    return {grpc::StatusCode::INTERNAL, "the stream did not end"};
  return *st;
}

/// The status of a Subscribe expected to end at once.
grpc::Status subscribe_status(pb::MarketMonitor::Stub& stub,
                              const std::vector<std::string>& tickers) {
  pb::SubscribeRequest req;
  for (auto& t : tickers)
    req.add_tickers(t);
  auto reader = stream_reader::subscribe(stub, req);
  auto st = reader->wait_finished();
  if (!st)
    return {grpc::StatusCode::INTERNAL, "the stream did not end"};
  return *st;
}

void expect_status(const grpc::Status& st, grpc::StatusCode code,
                   const std::string& words) {
  EXPECT_EQ(st.error_code(), code) << describe(st);
  EXPECT_TRUE(contains_nocase(st.error_message(), words))
    << describe(st) << " does not say \"" << words << "\"";
}

/// The common name of the server certificate a fresh connection sees.
std::string server_cn(const std::string& target, const pki& p) {
  auto stub = stub_with(target, tls_creds(p));
  pb::GetLastPricesRequest req;
  req.add_tickers("AAPL");
  pb::GetLastPricesResponse res;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(default_wait));
  auto st = stub->GetLastPrices(&ctx, req, &res);
  if (!st.ok())
    return "error: " + describe(st);
  auto auth = ctx.auth_context();
  if (!auth)
    return "no auth context";
  auto cn = auth->FindPropertyValues("x509_common_name");
  if (cn.empty())
    return "no common name";
  return std::string{cn.front().data(), cn.front().size()};
}

} // namespace

// --- TLS and mutual TLS ------------------------------------------------------

TEST(security, tls_serves_encrypted_and_refuses_plain_text) {
  pki p;
  redis_process redis;
  server_process server{redis,
                        {"--tls-cert", p.path("server.pem"), "--tls-key",
                         p.path("server.key")}};
  publisher pub{redis.port()};
  auto tls = stub_with(server.grpc_address(), tls_creds(p));
  std::string id;
  auto st = start_on(*tls, {"AAPL"}, &id);
  ASSERT_TRUE(st.ok()) << describe(st);
  auto reader = stream_reader::stream(*tls, id);
  ASSERT_TRUE(pub.wait_subscribed("AAPL"));
  pub.publish_tick("AAPL", 101.5, 10, 1);
  EXPECT_TRUE(reader->wait_count("AAPL", 1));
  EXPECT_TRUE(call_stop(*tls, id).ok());
  auto end = reader->wait_finished();
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->ok()) << describe(*end);
  // Plain text gets no call through.
  auto plain = stub_with(server.grpc_address(),
                         grpc::InsecureChannelCredentials());
  auto refused = start_on(*plain, {"AAPL"});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
    << describe(refused);
}

TEST(security, mutual_tls_needs_a_certificate_of_the_ca) {
  pki p;
  redis_process redis;
  server_process server{redis,
                        {"--tls-cert", p.path("server.pem"), "--tls-key",
                         p.path("server.key"), "--tls-client-ca",
                         p.path("ca.pem")}};
  auto alice = stub_with(server.grpc_address(), tls_creds(p, "alice"));
  std::string id;
  auto st = start_on(*alice, {"AAPL"}, &id);
  ASSERT_TRUE(st.ok()) << describe(st);
  // No client certificate, or one of another CA (with the same subject):
  // no handshake.
  auto anonymous = stub_with(server.grpc_address(), tls_creds(p));
  EXPECT_EQ(start_on(*anonymous, {"AAPL"}).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  auto mallory = stub_with(server.grpc_address(), tls_creds(p, "mallory"));
  EXPECT_EQ(start_on(*mallory, {"AAPL"}).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(stream_status(*mallory, id).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(security, a_certificate_subject_owns_its_sessions) {
  pki p;
  redis_process redis;
  server_process server{redis,
                        {"--tls-cert", p.path("server.pem"), "--tls-key",
                         p.path("server.key"), "--tls-client-ca",
                         p.path("ca.pem")}};
  auto alice = stub_with(server.grpc_address(), tls_creds(p, "alice"));
  auto bob = stub_with(server.grpc_address(), tls_creds(p, "bob"));
  publisher pub{redis.port()};
  std::string id;
  ASSERT_TRUE(start_on(*alice, {"AAPL"}, &id).ok());
  // Bob holds alice's id: everything is as for an unknown id.
  auto unknown = call_stop(*bob, "00000000-0000-4000-8000-000000000000");
  auto as_bob = call_stop(*bob, id);
  EXPECT_EQ(as_bob.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(as_bob);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  pb::UpdateSubscriptionResponse ures;
  auto update = call_update(*bob, id, {"MSFT"}, {}, &ures);
  EXPECT_EQ(update.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(update);
  auto stream = stream_status(*bob, id);
  EXPECT_EQ(stream.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(stream);
  // The words differ only by the id itself.
  auto strip = [](std::string s, const std::string& x) {
    auto at = s.find(x);
    return at == std::string::npos ? s : s.erase(at, x.size());
  };
  EXPECT_EQ(strip(as_bob.error_message(), id),
            strip(unknown.error_message(),
                  "00000000-0000-4000-8000-000000000000"));
  // Alice still has it. (A tick through her stream shows it attached
  // before she stops the session: a Stop that overtook the attach would end
  // the stream NOT_FOUND.)
  auto reader = stream_reader::stream(*alice, id);
  ASSERT_TRUE(pub.wait_subscribed("AAPL"));
  pub.publish_tick("AAPL", 101.5, 10, 1);
  ASSERT_TRUE(reader->wait_count("AAPL", 1));
  ASSERT_TRUE(call_update(*alice, id, {"MSFT"}, {}, &ures).ok());
  EXPECT_EQ(to_vector(ures.tickers()),
            (std::vector<std::string>{"AAPL", "MSFT"}));
  EXPECT_TRUE(call_stop(*alice, id).ok());
  auto end = reader->wait_finished();
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->ok()) << describe(*end);
}

// --- tokens ------------------------------------------------------------------

class token_test : public ::testing::Test {
protected:
  void start_server(std::vector<std::string> extra = {}) {
    std::vector<std::string> flags{"--auth", "jwt", "--jwt-key-file",
                                   p.path("secret.txt")};
    flags.insert(flags.end(), extra.begin(), extra.end());
    server = std::make_unique<server_process>(redis, flags);
  }

  std::string secret() {
    auto s = p.read("secret.txt");
    while (!s.empty() && s.back() == '\n')
      s.pop_back();
    return s;
  }

  std::string token_for(const std::string& sub, int64_t ttl = 600,
                        const std::string& extra = "") {
    return make_token(JWT_ALG_HS256, secret(),
                      claims(sub, unix_now() + ttl, extra));
  }

  std::unique_ptr<pb::MarketMonitor::Stub>
  stub(const std::string& authorization) {
    return stub_with(server->grpc_address(), grpc::InsecureChannelCredentials(),
                     authorization);
  }

  pki p;
  redis_process redis;
  std::unique_ptr<server_process> server;
};

TEST_F(token_test, bad_credentials_are_unauthenticated_and_say_which) {
  start_server();
  auto good = token_for("alice");
  struct bad_case {
    const char* name;
    std::string authorization;
    const char* words;
  };
  std::vector<bad_case> cases{
    {"missing", "", "missing"},
    {"not bearer", "Basic YWxpY2U6cHc=", "malformed"},
    {"garbage", bearer("not-a-token"), "malformed"},
    {"truncated", bearer(good.substr(0, good.size() - 8)), "signature"},
    {"cut at a dot", bearer(good.substr(0, good.rfind('.'))), "malformed"},
    {"wrong key",
     bearer(make_token(JWT_ALG_HS256, secret() + "x",
                       claims("alice", unix_now() + 600))),
     "bad signature"},
    {"alg none",
     bearer(make_token(JWT_ALG_NONE, "", claims("alice", unix_now() + 600))),
     "bad signature"},
    {"wrong algorithm",
     bearer(make_token(JWT_ALG_RS256, p.read("rsa.key"),
                       claims("alice", unix_now() + 600))),
     "bad signature"},
    {"expired", bearer(token_for("alice", -5)), "expired"},
    {"no exp",
     bearer(make_token(JWT_ALG_HS256, secret(), "{\"sub\":\"alice\"}")),
     "malformed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto s = stub(c.authorization);
    expect_status(start_on(*s, {"AAPL"}), grpc::StatusCode::UNAUTHENTICATED,
                  c.words);
    expect_status(subscribe_status(*s, {"AAPL"}),
                  grpc::StatusCode::UNAUTHENTICATED, c.words);
    expect_status(stream_status(*s, "00000000-0000-4000-8000-000000000000"),
                  grpc::StatusCode::UNAUTHENTICATED, c.words);
    expect_status(call_stop(*s, "00000000-0000-4000-8000-000000000000"),
                  grpc::StatusCode::UNAUTHENTICATED, c.words);
    pb::GetLastPricesResponse res;
    expect_status(call_last(*s, {"AAPL"}, &res),
                  grpc::StatusCode::UNAUTHENTICATED, c.words);
    // Never a word of the secret.
    auto st = start_on(*s, {"AAPL"});
    EXPECT_EQ(st.error_message().find(secret().substr(0, 8)),
              std::string::npos);
  }
  // The good token works, and health stays open for load balancers.
  auto s = stub(bearer(good));
  std::string id;
  auto st = start_on(*s, {"AAPL"}, &id);
  ASSERT_TRUE(st.ok()) << describe(st);
  EXPECT_TRUE(call_stop(*s, id).ok());
}

TEST_F(token_test, a_token_subject_owns_its_sessions) {
  start_server();
  auto alice = stub(bearer(token_for("alice")));
  auto alice_again = stub(bearer(token_for("alice", 900)));
  auto bob = stub(bearer(token_for("bob")));
  std::string id;
  ASSERT_TRUE(start_on(*alice, {"AAPL"}, &id).ok());
  pb::UpdateSubscriptionResponse ures;
  expect_status(call_update(*bob, id, {"MSFT"}, {}, &ures),
                grpc::StatusCode::NOT_FOUND, "no session with id");
  expect_status(stream_status(*bob, id), grpc::StatusCode::NOT_FOUND,
                "no session with id");
  expect_status(call_stop(*bob, id), grpc::StatusCode::NOT_FOUND,
                "no session with id");
  // The same subject with another token (a renewed one) owns it.
  auto reader = stream_reader::stream(*alice_again, id);
  EXPECT_TRUE(call_update(*alice_again, id, {"MSFT"}, {}, &ures).ok());
  // The stream attaches on its own thread: a stop before that ends the
  // session first, and the stream gets NOT_FOUND "session ended" (seen once
  // under the whole suite, 13 ms after the start).
  admin_client admin{server->admin_address()};
  ASSERT_TRUE(wait_until([&] { return admin.stats().streams == 1; }))
    << admin.stats().describe();
  EXPECT_TRUE(call_stop(*alice, id).ok());
  auto end = reader->wait_finished();
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->ok()) << describe(*end);
}

TEST_F(token_test, the_tickers_claim_limits_subscriptions) {
  start_server();
  auto s =
    stub(bearer(token_for("alice", 600, ",\"tickers\":[\"AAPL\",\"MS*\"]")));
  std::string id;
  ASSERT_TRUE(start_on(*s, {"AAPL", "MSFT"}, &id).ok());
  expect_status(start_on(*s, {"AAPL", "IBM"}),
                grpc::StatusCode::PERMISSION_DENIED, "IBM");
  expect_status(subscribe_status(*s, {"ibm"}),
                grpc::StatusCode::PERMISSION_DENIED, "IBM");
  pb::UpdateSubscriptionResponse ures;
  expect_status(call_update(*s, id, {"MSTR", "GOOG"}, {}, &ures),
                grpc::StatusCode::PERMISSION_DENIED, "GOOG");
  ASSERT_TRUE(call_update(*s, id, {"MSTR"}, {"AAPL"}, &ures).ok());
  EXPECT_EQ(to_vector(ures.tickers()),
            (std::vector<std::string>{"MSFT", "MSTR"}));
  pb::GetLastPricesResponse last;
  expect_status(call_last(*s, {"GOOG"}, &last),
                grpc::StatusCode::PERMISSION_DENIED, "GOOG");
  EXPECT_TRUE(call_stop(*s, id).ok());
}

TEST_F(token_test, a_stream_ends_unauthenticated_when_its_token_expires) {
  start_server();
  publisher pub{redis.port()};
  admin_client admin{server->admin_address()};
  // exp has whole seconds: 5 s from now is 4 to 5 s away, time enough
  // to see a tick first on a loaded machine.
  auto exp = unix_now() + 5;
  auto token = make_token(JWT_ALG_HS256, secret(), claims("alice", exp));
  auto s = stub(bearer(token));
  pb::SubscribeRequest req;
  req.add_tickers("AAPL");
  auto subscribed = stream_reader::subscribe(*s, req);
  // Start + Stream, with the stream's own token.
  std::string id;
  auto long_lived = stub(bearer(token_for("alice", 600)));
  ASSERT_TRUE(start_on(*long_lived, {"AAPL"}, &id).ok());
  auto streamed = stream_reader::stream(*s, id);
  ASSERT_TRUE(pub.wait_subscribed("AAPL"));
  // Redis has the channel once the first session subscribed; the tick must
  // wait for both (a stream counts once its session is subscribed), or the
  // later one starts after it and never sees it.
  ASSERT_TRUE(wait_until([&] {
    auto st = admin.stats();
    return st.sessions == 2 && st.streams == 2;
  }))
    << admin.stats().describe();
  pub.publish_tick("AAPL", 100.0, 1, 1);
  ASSERT_TRUE(subscribed->wait_count("AAPL", 1));
  ASSERT_TRUE(streamed->wait_count("AAPL", 1));
  for (auto* reader : {subscribed.get(), streamed.get()}) {
    auto end = reader->wait_finished(milliseconds{8000});
    ASSERT_TRUE(end) << "the stream outlived its token";
    auto ended_at = unix_now();
    expect_status(*end, grpc::StatusCode::UNAUTHENTICATED, "token expired");
    EXPECT_GE(ended_at, exp);
    EXPECT_LE(ended_at, exp + 2);
  }
  // Both sessions ended through their actors, counted as token_expired;
  // nothing is left.
  EXPECT_TRUE(wait_until([&] {
    auto st = admin.stats();
    return st.sessions == 0 && st.streams == 0;
  }))
    << admin.stats().describe();
  auto stats = admin.stats();
  EXPECT_EQ(stats.ended("token_expired"), 2) << stats.describe();
  EXPECT_EQ(stats.ended("stream_ended"), 0) << stats.describe();
}

TEST_F(token_test, rs256_keys_refuse_the_hs256_confusion) {
  start_server();
  server.reset();
  server = std::make_unique<server_process>(
    redis, std::vector<std::string>{"--auth", "jwt", "--jwt-key-file",
                                    p.path("rsa.pub")});
  auto good = make_token(JWT_ALG_RS256, p.read("rsa.key"),
                         claims("svc", unix_now() + 600));
  std::string id;
  auto ok = stub(bearer(good));
  auto st = start_on(*ok, {"AAPL"}, &id);
  ASSERT_TRUE(st.ok()) << describe(st);
  EXPECT_TRUE(call_stop(*ok, id).ok());
  // HS256 signed with the public key as the HMAC secret.
  auto forged = make_token(JWT_ALG_HS256, p.read("rsa.pub"),
                           claims("svc", unix_now() + 600));
  expect_status(start_on(*stub(bearer(forged)), {"AAPL"}),
                grpc::StatusCode::UNAUTHENTICATED, "bad signature");
}

TEST_F(token_test, sighup_rereads_the_token_key) {
  start_server();
  auto old_token = token_for("alice");
  auto old_stub = stub(bearer(old_token));
  ASSERT_TRUE(start_on(*old_stub, {"AAPL"}).ok());
  // A key file that does not load is refused and the old key stays.
  spit(p.path("secret.txt"), "short\n");
  server->send_signal(SIGHUP);
  std::this_thread::sleep_for(milliseconds{500});
  EXPECT_TRUE(start_on(*old_stub, {"AAPL"}).ok());
  spit(p.path("secret.txt"), "another-secret-of-at-least-32-bytes-0123\n");
  server->send_signal(SIGHUP);
  auto new_stub = stub(bearer(token_for("alice")));
  EXPECT_TRUE(wait_until([&] { return start_on(*new_stub, {"AAPL"}).ok(); }));
  expect_status(start_on(*old_stub, {"AAPL"}),
                grpc::StatusCode::UNAUTHENTICATED, "bad signature");
}

TEST(security, tokens_over_mutual_tls_name_the_token_subject) {
  pki p;
  redis_process redis;
  server_process server{redis,
                        {"--tls-cert", p.path("server.pem"), "--tls-key",
                         p.path("server.key"), "--tls-client-ca",
                         p.path("ca.pem"), "--auth", "jwt", "--jwt-key-file",
                         p.path("secret.txt")}};
  auto secret = p.read("secret.txt");
  while (!secret.empty() && secret.back() == '\n')
    secret.pop_back();
  auto token = make_token(JWT_ALG_HS256, secret,
                          claims("carol", unix_now() + 600));
  auto with_token = stub_with(server.grpc_address(), tls_creds(p, "alice"),
                              bearer(token));
  auto without = stub_with(server.grpc_address(), tls_creds(p, "alice"));
  std::string id;
  ASSERT_TRUE(start_on(*with_token, {"AAPL"}, &id).ok());
  // A certificate alone is not enough when tokens are on.
  expect_status(call_stop(*without, id), grpc::StatusCode::UNAUTHENTICATED,
                "missing");
  // carol's token from bob's certificate: the token's subject decides.
  auto bob_as_carol = stub_with(server.grpc_address(), tls_creds(p, "bob"),
                                bearer(token));
  EXPECT_TRUE(call_stop(*bob_as_carol, id).ok());
}

// --- secure by default and bad files -----------------------------------------

TEST(security, a_public_listen_address_needs_tls_or_auth) {
  pki p;
  redis_process redis;
  std::string base = std::string{MM_SERVER_BIN} + " --redis " + redis.address()
                     + " --admin-listen 127.0.0.1:0";
  std::string out;
  // timeout: a server that starts anyway must not hang the test.
  auto rc = run_shell("timeout 20 " + base + " --grpc-listen 0.0.0.0:0", &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;
  EXPECT_NE(out.find("not a loopback address"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  // The default listen address is public too.
  rc = run_shell("timeout 20 " + std::string{MM_SERVER_BIN} + " --redis "
                   + redis.address() + " --admin-listen 127.0.0.1:0",
                 &out);
  EXPECT_EQ(rc, 2) << out;
  // Bad or mismatched files: exit 2, one line naming the flag.
  struct bad_case {
    std::string flags;
    const char* words;
  };
  std::vector<bad_case> cases{
    {" --tls-cert " + p.path("server.pem") + " --tls-key "
       + p.path("alice.key"),
     "--tls-key"},
    {" --tls-cert " + p.path("alice.key") + " --tls-key " + p.path("alice.key"),
     "--tls-cert"},
    {" --tls-cert " + p.path("server.pem") + " --tls-key "
       + p.path("nonexistent.key"),
     "--tls-key"},
    {" --tls-cert " + p.path("server.pem"), "--tls-key"},
    {" --tls-cert " + p.path("server.pem") + " --tls-key "
       + p.path("server.key") + " --tls-client-ca " + p.path("secret.txt"),
     "--tls-client-ca"},
    {" --auth jwt", "--jwt-key-file"},
    {" --auth jwt --jwt-key-file " + p.path("rsa.key"), "public"},
  };
  for (const auto& c : cases) {
    rc =
      run_shell("timeout 20 " + base + " --grpc-listen 127.0.0.1:0" + c.flags,
                &out);
    EXPECT_EQ(rc, 2) << c.flags << ": " << out;
    EXPECT_NE(out.find(c.words), std::string::npos) << c.flags << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
  // With TLS, with --auth jwt, or with --insecure, a public address serves.
  for (auto flags : std::vector<std::vector<std::string>>{
         {"--grpc-listen", "0.0.0.0:0", "--insecure"},
         {"--grpc-listen", "0.0.0.0:0", "--tls-cert", p.path("server.pem"),
          "--tls-key", p.path("server.key")},
         {"--grpc-listen", "0.0.0.0:0", "--auth", "jwt", "--jwt-key-file",
          p.path("secret.txt")}}) {
    server_process server{redis, flags};
    EXPECT_EQ(server.grpc_address().rfind("0.0.0.0:", 0), 0u);
    EXPECT_EQ(WEXITSTATUS(server.stop()), 0);
  }
}

// --- SIGHUP ------------------------------------------------------------------

TEST(security, sighup_rereads_the_certificates_and_keeps_open_streams) {
  pki p;
  redis_process redis;
  server_process server{redis,
                        {"--tls-cert", p.path("server.pem"), "--tls-key",
                         p.path("server.key")}};
  publisher pub{redis.port()};
  EXPECT_EQ(server_cn(server.grpc_address(), p), "server-one");
  auto old = stub_with(server.grpc_address(), tls_creds(p));
  std::string id;
  ASSERT_TRUE(start_on(*old, {"AAPL"}, &id).ok());
  auto reader = stream_reader::stream(*old, id);
  ASSERT_TRUE(pub.wait_subscribed("AAPL"));
  pub.publish_tick("AAPL", 100.0, 1, 1);
  ASSERT_TRUE(reader->wait_count("AAPL", 1));
  // A broken pair is refused and the old one stays.
  spit(p.path("server.pem"), p.read("server-two.pem"));
  server.send_signal(SIGHUP);
  std::this_thread::sleep_for(milliseconds{1500});
  EXPECT_EQ(server_cn(server.grpc_address(), p), "server-one");
  // The new pair.
  spit(p.path("server.key"), p.read("server-two.key"));
  server.send_signal(SIGHUP);
  std::string seen;
  EXPECT_TRUE(wait_until(
    [&] {
      seen = server_cn(server.grpc_address(), p);
      return seen == "server-two";
    },
    milliseconds{10000}))
    << seen;
  // The stream opened before the reload still delivers, and ends normally.
  pub.publish_tick("AAPL", 101.0, 1, 2);
  EXPECT_TRUE(reader->wait_count("AAPL", 2));
  EXPECT_FALSE(reader->finished());
  EXPECT_TRUE(call_stop(*old, id).ok());
  auto end = reader->wait_finished();
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->ok()) << describe(*end);
  EXPECT_EQ(WEXITSTATUS(server.stop()), 0);
}

} // namespace mm::test
