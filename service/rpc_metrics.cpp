#include "service/rpc_metrics.hpp"

#include <cstring>

#include "actors/metrics.hpp"

namespace mm {

namespace {

using grpc::experimental::InterceptionHookPoints;

class rpc_counter final : public grpc::experimental::Interceptor {
public:
  explicit rpc_counter(std::array<std::atomic<uint64_t>, rpc_code_count>& row)
    : row_(row) {
    // nop
  }

  void
  Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
          InterceptionHookPoints::PRE_SEND_STATUS)) {
      auto code = static_cast<size_t>(methods->GetSendStatus().error_code());
      metrics::add(row_[code < rpc_code_count ? code : 2]); // 2: UNKNOWN
    }
    methods->Proceed();
  }

private:
  std::array<std::atomic<uint64_t>, rpc_code_count>& row_;
};

class rpc_counter_factory final
  : public grpc::experimental::ServerInterceptorFactoryInterface {
public:
  explicit rpc_counter_factory(metrics& m) : m_(m) {
    // nop
  }

  grpc::experimental::Interceptor*
  CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    size_t i = 0;
    while (i + 1 < rpc_method_count
           && (info->method() == nullptr
               || std::strcmp(info->method(), rpc_methods[i]) != 0))
      ++i;
    return new rpc_counter(m_.rpc_calls[i]);
  }

private:
  metrics& m_;
};

} // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
make_rpc_counter(metrics& m) {
  return std::make_unique<rpc_counter_factory>(m);
}

} // namespace mm
