// Run-time introspection and control: SIMD targets, threads, Ctrl-C.
#include "pybind.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "fastloss/dispatch.hpp"
#include "fastloss/portability.hpp"
#include "fastloss/threading.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

std::vector<std::string> names(const std::vector<Target>& targets) {
  std::vector<std::string> out;
  for (Target t : targets) out.emplace_back(target_name(t));
  return out;
}

// set_num_threads's argument. pybind11's own int conversion answers 2.5, "4" or 2**31 with
// "incompatible function arguments", naming neither the argument nor what is wrong with it.
int thread_count(const py::handle& n) {
  auto got = [&] { return ", got n=" + py::repr(n).cast<std::string>(); };
  if (PyIndex_Check(n.ptr()) == 0) {
    throw py::type_error("number of threads must be an integer" + got());
  }
  const auto index = py::reinterpret_steal<py::object>(PyNumber_Index(n.ptr()));
  if (!index) throw py::error_already_set();
  int overflow = 0;  // the sign of a value beyond long long (which reads as -1)
  const long long value = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (overflow < 0 || (overflow == 0 && value < 1)) {
    throw py::value_error("number of threads must be at least 1" + got());
  }
  if (overflow > 0 || value > std::numeric_limits<int>::max()) {
    const std::string message = "number of threads must be at most " +
                                std::to_string(std::numeric_limits<int>::max()) + got();
    py::set_error(PyExc_OverflowError, message.c_str());
    throw py::error_already_set();
  }
  return static_cast<int>(value);
}

// Python runs signal handlers on its main thread only, so only kernels called there poll.
std::atomic<unsigned long> python_main_thread{0};

// Taking the GIL waits up to a switch interval (5 ms) while another Python thread runs
// bytecode, and the kernel's calling thread stalls meanwhile. After a wait the check lets
// kGilWaitShare times as long pass (up to kMaxGilBackoff) before it takes the GIL again, so
// that waiting costs the kernel about 1/kGilWaitShare of its time, and Ctrl-C ~100 ms.
constexpr int kGilWaitShare = 20;
constexpr std::chrono::milliseconds kMaxGilBackoff{100};
std::chrono::steady_clock::time_point next_gil_acquire;  // python_main_thread's only

// The core's interrupt check: called on a kernel's calling thread, which has released the
// GIL. When a signal handler raises (KeyboardInterrupt for SIGINT), its exception stays set
// on this thread while the kernel unwinds with Interrupted, which the translator lets through.
bool python_signal_handler_raised() noexcept {
  if (PyThread_get_thread_ident() != python_main_thread.load(std::memory_order_relaxed)) {
    return false;
  }
  const std::chrono::steady_clock::time_point asked = std::chrono::steady_clock::now();
  if (asked < next_gil_acquire) return false;
  py::gil_scoped_acquire gil;
  const std::chrono::steady_clock::duration waited = std::chrono::steady_clock::now() - asked;
  next_gil_acquire = asked + std::min<std::chrono::steady_clock::duration>(kGilWaitShare * waited,
                                                                           kMaxGilBackoff);
  return PyErr_CheckSignals() != 0;
}

void make_kernels_interruptible() {
  const py::object main_thread = py::module_::import("threading").attr("main_thread")();
  python_main_thread = main_thread.attr("ident").cast<unsigned long>();
  // os.fork() makes the forking thread the child's main thread.
  portable::at_fork_in_child([] { python_main_thread = PyThread_get_thread_ident(); });
  set_interrupt_check(&python_signal_handler_raised);
  py::register_local_exception_translator([](std::exception_ptr raised) {
    try {
      if (raised) std::rethrow_exception(raised);
    } catch (const Interrupted&) {
      // The signal handler's exception is already set: nothing to translate.
    }
  });
}

}  // namespace

void register_runtime(py::module_& m) {
  m.def("simd_target", [] { return std::string(target_name(active_target())); },
        "The SIMD target kernels run on (e.g. 'avx2').");
  m.def("compiled_targets", [] { return names(compiled_targets()); },
        "SIMD targets compiled into this build, lowest first.");
  m.def("supported_targets", [] { return names(supported_targets()); },
        "Compiled SIMD targets this CPU can run, lowest first.");
  m.def("force_target", &force_target, py::arg("name"),
        "Run kernels on the named compiled target (testing; FASTLOSS_TARGET does this at start).");
  m.def("set_num_threads", [](const py::handle& n) { set_num_threads(thread_count(n)); },
        py::arg("n"), "Set the thread setting (a kernel starts at most one thread per CPU).");
  m.def("get_num_threads", &get_num_threads, "The thread setting.");
  make_kernels_interruptible();
}

}  // namespace bindings
}  // namespace fastloss
