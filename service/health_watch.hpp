#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

namespace grpc {
class HealthCheckServiceInterface;
} // namespace grpc

namespace mm {

struct metrics;
struct node_config;

/// Keeps the gRPC health service in step with `check_health`: looks every
/// 100 ms and switches SERVING / NOT_SERVING (for "" and every service) when
/// the answer changes, logging each change.
class health_watch {
public:
  health_watch(grpc::HealthCheckServiceInterface* health, const metrics& m,
               const node_config& cfg);
  ~health_watch();
  health_watch(const health_watch&) = delete;
  health_watch& operator=(const health_watch&) = delete;

private:
  void run();

  grpc::HealthCheckServiceInterface* health_;
  const metrics& metrics_;
  const node_config& cfg_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace mm
