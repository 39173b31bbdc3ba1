// fastloss._core: wires the per-family registrations together, nothing else.
#include "pybind.hpp"

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastloss compiled core (private; use the fastloss package)";
  fastloss::bindings::register_runtime(m);
  fastloss::bindings::register_reduction(m);  // before the losses: their defaults name it
  fastloss::bindings::register_transforms(m);
  fastloss::bindings::register_elementwise(m);
  fastloss::bindings::register_class_losses(m);
  fastloss::bindings::register_row_losses(m);
  fastloss::bindings::register_ctc(m);
}
