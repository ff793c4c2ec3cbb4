#include "veil/transport/errors.h"

namespace veil::transport {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kDeadlineExceeded: return "deadline exceeded";
    case ErrorCode::kResourceExhausted: return "resource exhausted";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kInternal: return "internal error";
    case ErrorCode::kPermissionDenied: return "permission denied";
  }
  return "unknown error";
}

}  // namespace veil::transport
