#include "tests/integration/mass_client.hpp"

namespace mm::test {

streams::~streams() {
  for (auto& x : *this)
    x->cancel();
  if (!all_done(*this, scaled_wait(milliseconds{10000})))
    std::terminate(); // destroying live reactors would crash later anyway
}

bool all_live(const streams& xs, milliseconds timeout) {
  return wait_until(
    [&] {
      for (auto& x : xs)
        if (x->batches() == 0)
          return false;
      return true;
    },
    timeout);
}

bool all_done(const streams& xs, milliseconds timeout) {
  return wait_until(
    [&] {
      for (auto& x : xs)
        if (!x->done())
          return false;
      return true;
    },
    timeout);
}

} // namespace mm::test
