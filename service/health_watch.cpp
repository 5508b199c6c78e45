#include "service/health_watch.hpp"

#include <chrono>

#include <grpcpp/health_check_service_interface.h>

#include "actors/health.hpp"
#include "logging/log.hpp"

namespace mm {

health_watch::health_watch(grpc::HealthCheckServiceInterface* health,
                           const metrics& m, const node_config& cfg)
  : health_(health), metrics_(m), cfg_(cfg) {
  thread_ = std::thread{[this] { run(); }};
}

health_watch::~health_watch() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void health_watch::run() {
  bool serving = true;
  std::unique_lock<std::mutex> guard{mtx_};
  while (!cv_.wait_for(guard, std::chrono::milliseconds{100},
                       [this] { return stop_; })) {
    auto now = check_health(metrics_, cfg_);
    // Shutdown is the front's own switch (HealthCheckService::Shutdown).
    if (now.serving == serving || metrics_.shutting_down)
      continue;
    serving = now.serving;
    health_->SetServingStatus(serving);
    if (serving)
      log::info("health", "SERVING");
    else
      log::warn("health", "NOT_SERVING", {{"why", now.why}});
  }
}

} // namespace mm
