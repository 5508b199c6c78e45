#pragma once

#include <grpcpp/support/status.h>

#include <caf/fwd.hpp>

namespace mm {

/// Returns the gRPC status that tells a client why its call or its stream
/// ended: a domain error (`ec`) or a failed request to an actor. The message
/// is the text the actor attached to the error, or a fallback that names the
/// situation. An empty error means OK.
grpc::Status to_status(const caf::error& err);

} // namespace mm
