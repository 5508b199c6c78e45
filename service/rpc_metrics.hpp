#pragma once

#include <memory>

#include <grpcpp/support/server_interceptor.h>

namespace mm {

struct metrics;

/// Counts every RPC the server completes by method and status code
/// (metrics::rpc_calls): a server interceptor that looks at the status
/// when it is sent, so the handlers need not count.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
make_rpc_counter(metrics& m);

} // namespace mm
