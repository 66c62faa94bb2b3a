// The logging hook: logging.Logger.callHandlers, replaced by a C method that calls the
// original and then captures the record.
//
// callHandlers is where splight-runner hooks too, and the right place: Logger.handle() calls
// it once per record that passed the logger's level and filters, and it walks the hierarchy
// itself, so each record is captured exactly once whatever the propagation. The program's
// logging is untouched: no handler is added (a handler on the root logger would make
// basicConfig() a no-op), levels, filters and handlers behave as under python3. What the
// handlers write to the console while handling the record is marked as its echo
// (capture::LogHandlersScope), so the journal does not hold it twice.

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/import_hook.hpp"
#include "bindings/ref.hpp"
#include "capture/capture.hpp"
#include "capture/json_text.hpp"
#include "capture/records.hpp"

namespace pyhost::bindings {
namespace {

// LogRecord's own attributes (3.11), and those Formatter.format() adds; anything else in a
// record's __dict__ came from `extra=`.
constexpr const char* k_standard_keys[] = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "message", "asctime", "taskName",
};
// What LogRecord.__init__ sets: a __dict__ of this size, plus `message` and `asctime` when a
// formatter added them, has no `extra=` fields.
constexpr Py_ssize_t k_init_keys = 20;

// Names looked up for every record, interned once (ModuleState::names).
enum Name {
    n_levelno, n_name, n_message, n_msg, n_pathname, n_lineno, n_funcName, n_threadName,
    n_exc_text, n_exc_info, n_stack_info, n_created, n_asctime, n_flush, n_stdout, n_stderr,
};
constexpr const char* k_names[] = {
    "levelno", "name", "message", "msg", "pathname", "lineno", "funcName", "threadName",
    "exc_text", "exc_info", "stack_info", "created", "asctime", "flush", "stdout", "stderr",
};
static_assert(std::size(k_names) == std::size(ModuleState{}.names));

// dict[key] for an interned key, borrowed, NULL when absent (errors cleared).
PyObject* item(PyObject* dict, ModuleState* state, Name key) {
    PyObject* value = PyDict_GetItemWithError(dict, state->names[key]);
    if (value == nullptr) {
        PyErr_Clear();
    }
    return value;
}

// UTF-8 of a str, or of its repr() for anything else. Never fails: errors become a marker.
// `holder` keeps the object whose buffer the view points into alive.
std::string_view text_of(PyObject* value, Ref& holder) {
    if (value == nullptr || value == Py_None) {
        return {};
    }
    if (!PyUnicode_Check(value)) {
        holder = Ref::steal(PyObject_Str(value));
        if (!holder) {
            PyErr_Clear();
            return "<unprintable>";
        }
        value = holder.get();
    }
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(value, &size);
    if (data == nullptr) {
        // Lone surrogates (surrogateescape'd bytes): keep them, as the journal keeps bytes.
        PyErr_Clear();
        holder = Ref::steal(PyUnicode_AsEncodedString(value, "utf-8", "surrogateescape"));
        if (!holder) {
            PyErr_Clear();
            return "<unencodable>";
        }
        return {PyBytes_AS_STRING(holder.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(holder.get()))};
    }
    return {data, static_cast<std::size_t>(size)};
}

// An `extra=` value as JSON: strings, numbers, booleans and None as themselves, dicts with
// string keys, lists and tuples of those as JSON objects and arrays (a few levels deep: tags),
// anything else as the string of its repr().
std::string json_value(PyObject* value, int depth = 0) {
    std::string out;
    if (depth < 4 && (PyList_Check(value) || PyTuple_Check(value))) {
        Ref items = Ref::steal(PySequence_Fast(value, "extra"));
        if (items) {
            out += '[';
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items.get()); ++i) {
                out += i == 0 ? "" : ",";
                out += json_value(PySequence_Fast_GET_ITEM(items.get(), i), depth + 1);
            }
            return out + ']';
        }
        PyErr_Clear();
    }
    if (depth < 4 && PyDict_Check(value)) {
        PyObject* key = nullptr;
        PyObject* item = nullptr;
        Py_ssize_t position = 0;
        bool string_keys = true;
        while (PyDict_Next(value, &position, &key, &item)) {
            string_keys = string_keys && PyUnicode_Check(key);
        }
        if (string_keys) {
            out += '{';
            position = 0;
            bool first = true;
            while (PyDict_Next(value, &position, &key, &item)) {
                out += first ? "" : ",";
                first = false;
                Ref holder;
                capture::json::append_string(out, text_of(key, holder));
                out += ':';
                out += json_value(item, depth + 1);
            }
            return out + '}';
        }
    }
    if (value == Py_None) {
        return "null";
    }
    if (PyBool_Check(value)) {
        return value == Py_True ? "true" : "false";
    }
    if (PyLong_Check(value)) {
        int overflow = 0;
        const long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow == 0 && !(number == -1 && PyErr_Occurred())) {
            capture::json::append_int(out, number);
            return out;
        }
        PyErr_Clear();
    }
    if (PyFloat_Check(value) && std::isfinite(PyFloat_AS_DOUBLE(value))) {
        Ref repr = Ref::steal(PyObject_Repr(value));
        Ref holder;
        if (repr) {
            return std::string(text_of(repr.get(), holder));
        }
        PyErr_Clear();
    }
    Ref holder;
    if (PyUnicode_Check(value)) {
        capture::json::append_string(out, text_of(value, holder));
        return out;
    }
    Ref repr = Ref::steal(PyObject_Repr(value));
    if (!repr) {
        PyErr_Clear();
        return "\"<unrepresentable>\"";
    }
    capture::json::append_string(out, text_of(repr.get(), holder));
    return out;
}

// The traceback text of a record's exc_info: the formatter's cached exc_text when a handler
// formatted it, else traceback.format_exception(*exc_info).
std::string exception_text(ModuleState* state, PyObject* dict) {
    PyObject* cached = item(dict, state, n_exc_text);  // borrowed
    Ref holder;
    if (cached != nullptr && PyUnicode_Check(cached) && PyUnicode_GET_LENGTH(cached) > 0) {
        return std::string(text_of(cached, holder));
    }
    PyObject* exc_info = item(dict, state, n_exc_info);  // borrowed
    if (exc_info == nullptr || !PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3 ||
        PyTuple_GET_ITEM(exc_info, 0) == Py_None) {
        return {};
    }
    if (state->traceback_format_exception == nullptr) {
        Ref traceback = Ref::steal(PyImport_ImportModule("traceback"));  // logging imported it already
        if (traceback) {
            state->traceback_format_exception = PyObject_GetAttrString(traceback.get(), "format_exception");
        }
        if (state->traceback_format_exception == nullptr) {
            PyErr_Clear();
            return {};
        }
    }
    Ref lines = Ref::steal(PyObject_Call(state->traceback_format_exception, exc_info, nullptr));
    if (!lines) {
        PyErr_Clear();
        return {};
    }
    Ref empty = Ref::steal(PyUnicode_FromString(""));
    Ref joined = Ref::steal(PyUnicode_Join(empty.get(), lines.get()));
    if (!joined) {
        PyErr_Clear();
        return {};
    }
    std::string text(text_of(joined.get(), holder));
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    return text;
}

void add_text_field(capture::FieldList& fields, capture::Field tag, PyObject* dict, ModuleState* state, Name key) {
    PyObject* value = item(dict, state, key);  // borrowed
    if (value != nullptr && value != Py_None) {
        Ref holder;
        fields.add(tag, text_of(value, holder));
    }
}

// Captures one record. Never raises: capture must not change what the program sees.
void capture_record(ModuleState* state, PyObject* record) {
    Ref dict = Ref::steal(PyObject_GenericGetDict(record, nullptr));
    if (!dict || !PyDict_Check(dict.get())) {
        PyErr_Clear();
        return;
    }
    // One reusable buffer per thread; a record logged while this one is read (by the repr()
    // of an extra value, say) gets its own.
    thread_local capture::FieldList reused;
    thread_local bool reused_busy = false;
    capture::FieldList nested;
    const bool owns_reused = !reused_busy;
    capture::FieldList& fields = owns_reused ? reused : nested;
    reused_busy = true;
    fields.clear();
    PyObject* levelno = item(dict.get(), state, n_levelno);
    if (levelno != nullptr && PyLong_Check(levelno)) {
        fields.add_int(capture::Field::levelno, PyLong_AsLongLong(levelno));
    }
    add_text_field(fields, capture::Field::logger, dict.get(), state, n_name);

    // The message as the handlers saw it: Formatter.format() caches it on the record.
    Ref message_holder;
    PyObject* message = item(dict.get(), state, n_message);
    const bool formatted = message != nullptr;
    Ref computed;
    if (message == nullptr || !PyUnicode_Check(message)) {
        computed = Ref::steal(PyObject_CallMethod(record, "getMessage", nullptr));
        if (!computed) {
            PyErr_Clear();
            if (PyObject* msg = item(dict.get(), state, n_msg)) {
                computed = Ref::steal(PyObject_Str(msg));
                PyErr_Clear();
            }
        }
        message = computed.get();
    }
    fields.add(capture::Field::message, text_of(message, message_holder));
    add_text_field(fields, capture::Field::file, dict.get(), state, n_pathname);
    PyObject* lineno = item(dict.get(), state, n_lineno);
    if (lineno != nullptr && PyLong_Check(lineno)) {
        fields.add_int(capture::Field::line, PyLong_AsLongLong(lineno));
    }
    add_text_field(fields, capture::Field::func, dict.get(), state, n_funcName);
    add_text_field(fields, capture::Field::thread, dict.get(), state, n_threadName);
    const std::string exc = exception_text(state, dict.get());
    if (!exc.empty()) {
        fields.add(capture::Field::exc, exc);
    }
    add_text_field(fields, capture::Field::stack, dict.get(), state, n_stack_info);

    const Py_ssize_t plain_size = k_init_keys + (formatted ? 1 : 0) + (item(dict.get(), state, n_asctime) ? 1 : 0);
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    const bool has_extra = PyDict_Size(dict.get()) != plain_size;
    while (has_extra && PyDict_Next(dict.get(), &position, &key, &value)) {
        const int standard = PySet_Contains(state->standard_record_keys, key);
        if (standard != 0) {
            if (standard < 0) {
                PyErr_Clear();
            }
            continue;
        }
        Ref key_holder;
        fields.add(capture::Field::extra_key, text_of(key, key_holder));
        fields.add(capture::Field::extra_value, json_value(value));
    }
    PyErr_Clear();

    // The record's own time (LogRecord.created); the clock only for a record without one.
    PyObject* created = item(dict.get(), state, n_created);
    const std::int64_t ts = created != nullptr && PyFloat_Check(created)
                                ? static_cast<std::int64_t>(std::llround(PyFloat_AS_DOUBLE(created) * 1e6))
                                : capture::now_micros();
    capture::push_log(fields, ts);
    if (owns_reused) {
        reused_busy = false;
    }
}

// Returns whether sys.stdout holds no earlier text for the handlers to carry along (see
// capture::LogHandlersScope): it is line-buffered (a terminal), or it buffers blocks and a
// handler writing to stdout was seen, so it is flushed here first. That flush keeps every byte
// and the console's order, since such a handler flushes stdout itself right after; flushing
// before any such handler was seen would not: stdout text would overtake stderr on a merged
// console. sys.stderr is line-buffered: at most a partial line could ride along.
bool stdout_exact_for_handlers(ModuleState* state) {
    // sys's own dict, looked up by an interned name: PySys_GetObject() would build a str
    // from "stdout" on every record.
    static PyObject* sys_dict = PyModule_GetDict(PyImport_AddModule("sys"));  // borrowed, lives as long as sys
    PyObject* stream = PyDict_GetItemWithError(sys_dict, state->names[n_stdout]);  // borrowed
    if (stream == nullptr || stream == Py_None) {
        PyErr_Clear();
        return true;
    }
    if (stream != state->stdout_seen) {
        state->stdout_seen = stream;
        state->stdout_block_buffered = false;
        Ref line_buffering = Ref::steal(PyObject_GetAttrString(stream, "line_buffering"));
        Ref write_through = Ref::steal(PyObject_GetAttrString(stream, "write_through"));
        if (line_buffering && write_through) {
            state->stdout_block_buffered = !PyObject_IsTrue(line_buffering.get()) && !PyObject_IsTrue(write_through.get());
        }
        PyErr_Clear();
    }
    if (!state->stdout_block_buffered) {
        return true;
    }
    if (!capture::stdout_handler_seen()) {
        return false;
    }
    PyObject* result = PyObject_CallMethodNoArgs(stream, state->names[n_flush]);
    if (result == nullptr) {
        PyErr_Clear();  // the program meets the same error at its own next flush
        return false;
    }
    Py_DECREF(result);
    return true;
}

// Logger.callHandlers(self, record), as a method descriptor on logging.Logger.
PyObject* call_handlers(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    ModuleState* state = module_state();
    if (state == nullptr || state->original_call_handlers == nullptr) {
        PyErr_SetString(PyExc_RuntimeError, "pyhost's logging hook outlived its module");
        return nullptr;
    }
    if (nargs != 1) {
        // Let the original raise exactly the TypeError python3 raises.
        std::vector<PyObject*> forward{self};
        forward.insert(forward.end(), args, args + nargs);
        return PyObject_Vectorcall(state->original_call_handlers, forward.data(), forward.size(), nullptr);
    }
    PyObject* call_args[3] = {nullptr, self, args[0]};
    const bool stdout_exact = stdout_exact_for_handlers(state);
    PyObject* result;
    {
        capture::LogHandlersScope echo(stdout_exact);
        result = PyObject_Vectorcall(state->original_call_handlers, call_args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     nullptr);
    }
    // Capture after the handlers ran: they may have cached the formatted message and
    // traceback on the record. An exception from a handler propagates unchanged.
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    capture_record(state, args[0]);
    PyErr_Restore(type, value, traceback);
    return result;
}

PyMethodDef k_call_handlers_def = {
    "callHandlers", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_handlers)), METH_FASTCALL,
    "Pass a record to all relevant handlers (captured by pyhost, then handled as usual).",
};

}  // namespace

bool logging_hooked(const ModuleState* state) { return state->original_call_handlers != nullptr; }

int hook_logging_module(PyObject* logging_module) {
    ModuleState* state = module_state();
    if (state == nullptr || state->original_call_handlers != nullptr) {
        return 0;
    }
    Ref logger_class = Ref::steal(PyObject_GetAttrString(logging_module, "Logger"));
    if (!logger_class) {
        return -1;
    }
    if (!PyType_Check(logger_class.get())) {
        PyErr_SetString(PyExc_TypeError, "logging.Logger is not a class");
        return -1;
    }
    Ref original = Ref::steal(PyObject_GetAttrString(logger_class.get(), "callHandlers"));
    if (!original) {
        return -1;
    }
    Ref keys = Ref::steal(PyFrozenSet_New(nullptr));
    if (!keys) {
        return -1;
    }
    for (const char* name : k_standard_keys) {
        Ref key = Ref::steal(PyUnicode_InternFromString(name));
        if (!key || PySet_Add(keys.get(), key.get()) < 0) {
            return -1;
        }
    }
    for (std::size_t i = 0; i < std::size(k_names); ++i) {
        if (state->names[i] == nullptr && (state->names[i] = PyUnicode_InternFromString(k_names[i])) == nullptr) {
            return -1;
        }
    }
    Ref descriptor = Ref::steal(
        PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(logger_class.get()), &k_call_handlers_def));
    if (!descriptor || PyObject_SetAttrString(logger_class.get(), "callHandlers", descriptor.get()) < 0) {
        return -1;
    }
    state->original_call_handlers = original.release();
    state->standard_record_keys = keys.release();
    return 0;
}

}  // namespace pyhost::bindings
