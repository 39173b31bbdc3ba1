// fastloss._core: wires the per-family registrations together, nothing else.
#include "pybind.hpp"

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastloss compiled core (private; use the fastloss package)";
  fastloss::bindings::register_runtime(m);
  fastloss::bindings::register_elementwise(m);
  fastloss::bindings::register_cross_entropy(m);
  fastloss::bindings::register_row_losses(m);
}
