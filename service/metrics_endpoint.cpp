#include "service/metrics_endpoint.hpp"

#include <httplib.h>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "actors/errors.hpp"
#include "actors/health.hpp"
#include "actors/host_port.hpp"
#include "actors/node.hpp"
#include "service/process_stats.hpp"
#include "service/prometheus_text.hpp"

namespace mm {

namespace {

constexpr const char* exposition_type = "text/plain; version=0.0.4; "
                                        "charset=utf-8";

} // namespace

metrics_endpoint::metrics_endpoint(caf::actor_system& sys, node& n)
  : sys_(sys), node_(n) {
  // nop
}

metrics_endpoint::~metrics_endpoint() {
  stop();
}

caf::error metrics_endpoint::start() {
  const auto& listen = node_.config().metrics_listen;
  std::string why;
  auto at = host_port::parse(listen, 0, &why);
  if (!at)
    return caf::make_error(ec::bad_config,
                           "cannot serve metrics on " + listen + ": " + why);
  server_ = std::make_unique<httplib::Server>();
  // Scrapes are rare and cheap: two workers, not one per core.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->set_read_timeout(std::chrono::seconds{5});
  server_->set_write_timeout(std::chrono::seconds{5});
  server_->set_keep_alive_timeout(5);
  server_->Get("/metrics", [this](const httplib::Request&,
                                  httplib::Response& res) {
    auto& m = node_.stats();
    auto text = render_metrics(m, node_.config(),
                               check_health(m, node_.config()),
                               sys_.registry().running(), read_process_stats());
    res.set_content(text, exposition_type);
  });
  server_->Get("/healthz", [this](const httplib::Request&,
                                  httplib::Response& res) {
    auto health = check_health(node_.stats(), node_.config());
    if (health.serving) {
      res.set_content("SERVING\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("NOT_SERVING: " + health.why + "\n", "text/plain");
    }
  });
  int bound = at->port == 0
                ? server_->bind_to_any_port(at->host)
                : (server_->bind_to_port(at->host, at->port) ? at->port : -1);
  if (bound <= 0) {
    server_.reset();
    return caf::make_error(ec::bad_config,
                           "cannot serve metrics on " + listen
                             + " (address in use or not valid?)");
  }
  at->port = static_cast<uint16_t>(bound);
  address_ = at->to_string();
  thread_ = std::thread{[srv = server_.get()] { srv->listen_after_bind(); }};
  // A stop() before the loop runs would be missed: wait until it does.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  return caf::none;
}

void metrics_endpoint::stop() {
  if (!server_)
    return;
  server_->stop();
  if (thread_.joinable())
    thread_.join();
  server_.reset();
}

} // namespace mm
