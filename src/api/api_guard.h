// How every C ABI function runs its body: exceptions become an mb_status, and the message is stored
// as this thread's last error (and on the handle, when there is one). Nothing escapes to the caller.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "core/error.h"
#include "mbridge.h"

namespace mb::api {

void set_last_error(const std::string& message);
void clear_last_error();

template <class Body>
mb_status guarded(std::string* handle_error, Body&& body) {
  try {
    clear_last_error();
    if (handle_error) handle_error->clear();
    body();
    return MB_OK;
  } catch (const Error& e) {
    set_last_error(e.message());
    if (handle_error) *handle_error = e.message();
    return static_cast<mb_status>(e.status());
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    if (handle_error) *handle_error = "out of memory";
    return MB_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    std::string m = std::string("internal error: ") + e.what();
    set_last_error(m);
    if (handle_error) *handle_error = m;
    return MB_ERR_INTERNAL;
  } catch (...) {
    set_last_error("internal error: unknown exception");
    if (handle_error) *handle_error = "internal error: unknown exception";
    return MB_ERR_INTERNAL;
  }
}

// Rejects a NULL pointer argument, naming it.
template <class T>
void require(const T* p, const char* what) {
  if (!p) fail(Status::kInvalidArgument, what, " is NULL");
}

// Rejects a size field older than the first version of a struct.
template <class Options>
void check_struct_size(const Options* o, size_t minimum, const char* name) {
  if (o && o->struct_size < minimum)
    fail(Status::kInvalidArgument, name, ".struct_size is ", o->struct_size, "; initialise it with its _default_options()");
}

}  // namespace mb::api
