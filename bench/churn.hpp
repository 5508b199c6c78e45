#pragma once

// The churn of issue 6 (scripts/bench S5): sessions created and ended one
// after another, cycling through the ways a session can end, on the
// completion-queue API like the measured population.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/completion_queues.hpp"
#include "bench/options.hpp"
#include "marketmonitor/v1/market_monitor.grpc.pb.h"

namespace mm::bench {

/// The ways a churn session ends; each is used for every fifth session.
enum class churn_kind { cancel, deadline, stop, stop_unattached, abandon };

/// Runs the churn: keeps `--churn-concurrency` sessions in flight until
/// `--churn` have been created and ended. Each session is a `churn_call`
/// that owns itself until its last operation completed.
class churn_driver {
public:
  using stubs_type =
    std::vector<std::unique_ptr<marketmonitor::v1::MarketMonitor::Stub>>;

  churn_driver(
    const options& opts, stubs_type& stubs, completion_queues& cqs,
    std::function<marketmonitor::v1::SubscribeRequest(uint64_t)> make_req);

  /// Returns false if calls were still in flight at the deadline; then the
  /// queues must not be shut down under them.
  bool run(double timeout_s);

  /// A session's result; `where` names the call that failed, if any.
  void finished(churn_kind k, const char* where, const grpc::Status& st);

  /// A session's last operation completed.
  void gone() {
    live_.fetch_sub(1, std::memory_order_acq_rel);
  }

  std::map<std::string, uint64_t> results();

  uint64_t completed();

  /// How long the churn took (until the last result).
  double seconds = 0;

private:
  const options& opts_;
  stubs_type& stubs_;
  completion_queues& cqs_;
  std::function<marketmonitor::v1::SubscribeRequest(uint64_t)> make_req_;
  std::mutex mtx_;
  uint64_t in_flight_ = 0;
  uint64_t completed_ = 0;
  std::map<std::string, uint64_t> results_;
  /// Sessions whose objects still exist.
  std::atomic<uint64_t> live_{0};
};

} // namespace mm::bench
