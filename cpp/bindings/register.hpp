// The registration function of each bound family; module.cc calls them all.
#pragma once

#include "pybind.hpp"

namespace fastloss {
namespace bindings {

void register_runtime(py::module_& m);
void register_reduction(py::module_& m);
void register_transforms(py::module_& m);
void register_elementwise(py::module_& m);
void register_class_losses(py::module_& m);
void register_row_losses(py::module_& m);
void register_ctc(py::module_& m);

}  // namespace bindings
}  // namespace fastloss
