// UvHandle<T>: owns one libuv handle. libuv handles must stay allocated until their close
// callback runs, so destruction starts an asynchronous uv_close and the memory is freed in
// the callback; the loop must run again afterwards (Daemon's teardown does).
#pragma once

#include <uv.h>

#include <utility>

namespace keymesh {

template <class T>
class UvHandle {
 public:
  UvHandle() : handle_(new T{}) {}
  ~UvHandle() { reset(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }

  T* get() const noexcept { return handle_; }
  uv_handle_t* base() const noexcept { return reinterpret_cast<uv_handle_t*>(handle_); }

  // Closes the handle if it was initialised (its loop field is set by uv_*_init).
  void reset() noexcept {
    if (handle_ == nullptr) return;
    T* h = std::exchange(handle_, nullptr);
    auto* base = reinterpret_cast<uv_handle_t*>(h);
    if (base->loop != nullptr && !uv_is_closing(base)) {
      uv_close(base, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    } else if (base->loop == nullptr) {
      delete h;
    }
  }

 private:
  T* handle_;
};

}  // namespace keymesh
