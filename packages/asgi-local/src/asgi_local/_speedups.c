/* Optional C accelerator for asgi_local: attribute access of Local in C.
 *
 * The data model is the pure-Python one (asgi_local/_pure.py), byte for byte: default-mode
 * values live in a module-level ContextVar holding an immutable snapshot
 * (home_token, {local: {name: value}}); thread_critical values live in a per-instance
 * threading.local outside a running loop and in a second snapshot ContextVar inside one.
 * Only the hot paths are here (get, set); deletion, the reserved names and every error
 * message stay in Python and are reached through the callbacks passed to configure().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#ifndef ASGI_LOCAL_SOURCE_HASH
#define ASGI_LOCAL_SOURCE_HASH "unknown"
#endif

typedef struct {
    PyObject_HEAD
    PyObject *weakreflist;
    PyObject *storage; /* threading.local for thread_critical locals, else NULL */
} LocalObject;

/* Set once by configure(); owned references. */
static PyObject *state_var;        /* ContextVar of default-mode snapshots */
static PyObject *loop_state_var;   /* ContextVar of thread_critical snapshots in a loop */
static PyObject *get_running_loop; /* asyncio.events._get_running_loop */
static PyObject *token_type;       /* class whose instances identify one thread */
static PyObject *thread_local_type;
static PyObject *special_setattr;  /* f(local, name, value) for "_data" and "__class__" */
static PyObject *default_delattr;  /* f(local, name) */
static PyObject *critical_delattr; /* f(local, name) */

/* The interpreter configure() wired the state of. A legacy subinterpreter (mod_wsgi, for
 * one) shares this module's static state, so it must not rewire it: it is refused and runs
 * the pure-Python implementation instead. */
static PyInterpreterState *configured_interpreter;

static PyObject *token_key; /* key of this thread's token in the thread-state dict */
static PyObject *dict_name; /* "__dict__" */

static PyTypeObject CriticalCoreType;

static int
configured(void)
{
    if (state_var == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "asgi_local._speedups is used before configure() was called");
        return 0;
    }
    return 1;
}

/* This thread's token (borrowed; the thread-state dict owns it), made on first use. */
static PyObject *
current_token(void)
{
    PyObject *tdict = PyThreadState_GetDict();
    if (tdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asgi_local: no thread state dict");
        return NULL;
    }
    PyObject *token = PyDict_GetItemWithError(tdict, token_key);
    if (token != NULL || PyErr_Occurred()) {
        return token;
    }
    token = PyObject_CallNoArgs(token_type);
    if (token == NULL) {
        return NULL;
    }
    int failed = PyDict_SetItem(tdict, token_key, token);
    Py_DECREF(token);
    return failed ? NULL : token;
}

/* The value of `name` for `self` in the snapshot held by `var`, as a new reference;
 * NULL without an exception set when the snapshot has no such value here. */
static PyObject *
snapshot_lookup(PyObject *var, PyObject *self, PyObject *name)
{
    PyObject *snapshot;
    if (PyContextVar_Get(var, NULL, &snapshot) < 0) {
        return NULL;
    }
    if (snapshot == NULL) {
        return NULL;
    }
    PyObject *found = NULL;
    PyObject *token = current_token();
    if (token != NULL && PyTuple_CheckExact(snapshot) && PyTuple_GET_SIZE(snapshot) == 2 &&
        PyTuple_GET_ITEM(snapshot, 0) == token) {
        PyObject *mine = PyDict_GetItemWithError(PyTuple_GET_ITEM(snapshot, 1), self);
        if (mine != NULL) {
            found = PyDict_GetItemWithError(mine, name);
            Py_XINCREF(found);
        }
    }
    Py_DECREF(snapshot);
    return found;
}

static int
set_snapshot(PyObject *var, PyObject *token, PyObject *data)
{
    PyObject *snapshot = PyTuple_Pack(2, token, data);
    if (snapshot == NULL) {
        return -1;
    }
    PyObject *reset_token = PyContextVar_Set(var, snapshot);
    Py_DECREF(snapshot);
    if (reset_token == NULL) {
        return -1;
    }
    Py_DECREF(reset_token);
    return 0;
}

static PyObject *
dict_of_one(PyObject *key, PyObject *value)
{
    PyObject *d = PyDict_New();
    if (d != NULL && PyDict_SetItem(d, key, value) < 0) {
        Py_CLEAR(d);
    }
    return d;
}

/* Write `name = value` for `self` into a new snapshot of `var`. Copies at most the two
 * small dicts it touches; writing the object already held changes nothing. */
static int
snapshot_store(PyObject *var, PyObject *self, PyObject *name, PyObject *value)
{
    PyObject *token = current_token();
    if (token == NULL) {
        return -1;
    }
    PyObject *snapshot;
    if (PyContextVar_Get(var, NULL, &snapshot) < 0) {
        return -1;
    }
    PyObject *data = NULL;
    if (snapshot != NULL && PyTuple_CheckExact(snapshot) && PyTuple_GET_SIZE(snapshot) == 2 &&
        PyTuple_GET_ITEM(snapshot, 0) == token) {
        data = PyTuple_GET_ITEM(snapshot, 1);
    }
    int result = -1;
    PyObject *new_mine = NULL, *new_data = NULL;
    PyObject *mine = data == NULL ? NULL : PyDict_GetItemWithError(data, self);
    if (mine == NULL && PyErr_Occurred()) {
        goto done;
    }
    PyObject *current = mine == NULL ? NULL : PyDict_GetItemWithError(mine, name);
    if (current == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (current == value) {
        result = 0; /* already set here: the snapshot would not change */
        goto done;
    }
    if (mine == NULL || (current != NULL && PyDict_GET_SIZE(mine) == 1)) {
        new_mine = dict_of_one(name, value); /* the common case: one attribute per Local */
    }
    else {
        new_mine = PyDict_Copy(mine);
        if (new_mine != NULL && PyDict_SetItem(new_mine, name, value) < 0) {
            Py_CLEAR(new_mine);
        }
    }
    if (new_mine == NULL) {
        goto done;
    }
    if (data == NULL || (mine != NULL && PyDict_GET_SIZE(data) == 1)) {
        /* inherited values of another thread stay invisible; or a single Local here */
        new_data = dict_of_one(self, new_mine);
    }
    else {
        new_data = PyDict_Copy(data);
        if (new_data != NULL && PyDict_SetItem(new_data, self, new_mine) < 0) {
            Py_CLEAR(new_data);
        }
    }
    if (new_data != NULL) {
        result = set_snapshot(var, token, new_data);
    }
done:
    Py_XDECREF(new_mine);
    Py_XDECREF(new_data);
    Py_XDECREF(snapshot);
    return result;
}

/* "_data" and "__class__" are handled by Python code; checked by length first. */
static int
is_special(PyObject *name)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    if (n == 5) {
        return PyUnicode_CompareWithASCIIString(name, "_data") == 0;
    }
    if (n == 9) {
        return PyUnicode_CompareWithASCIIString(name, "__class__") == 0;
    }
    return 0;
}

static int
call_special_setattr(PyObject *self, PyObject *name, PyObject *value)
{
    PyObject *r = PyObject_CallFunctionObjArgs(special_setattr, self, name, value, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
call_delattr(PyObject *func, PyObject *self, PyObject *name)
{
    PyObject *r = PyObject_CallFunctionObjArgs(func, self, name, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* --- LocalBase: layout, lifetime and construction shared by both modes --------------- */

static PyObject *
local_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    (void)args;
    (void)kwargs;
    if (!configured()) {
        return NULL;
    }
    LocalObject *self = (LocalObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (PyType_IsSubtype(type, &CriticalCoreType)) {
        self->storage = PyObject_CallNoArgs(thread_local_type);
        if (self->storage == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

static int
local_traverse(LocalObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->storage);
    return 0;
}

static int
local_clear(LocalObject *self)
{
    Py_CLEAR(self->storage);
    return 0;
}

static void
local_dealloc(LocalObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    local_clear(self);
    tp->tp_free((PyObject *)self);
}

static PyTypeObject LocalBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_local._speedups.LocalBase",
    .tp_basicsize = sizeof(LocalObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Storage layout shared by the accelerated Local classes.",
    .tp_new = local_new,
    .tp_dealloc = (destructor)local_dealloc,
    .tp_traverse = (traverseproc)local_traverse,
    .tp_clear = (inquiry)local_clear,
    .tp_weaklistoffset = offsetof(LocalObject, weakreflist),
};

/* --- DefaultCore: values per context -------------------------------------------------- */

static PyObject *
default_getattro(PyObject *self, PyObject *name)
{
    PyObject *value = snapshot_lookup(state_var, self, name);
    if (value != NULL || PyErr_Occurred()) {
        return value;
    }
    return PyObject_GenericGetAttr(self, name); /* dunders and methods; else AttributeError */
}

static int
default_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    if (value == NULL) {
        return call_delattr(default_delattr, self, name);
    }
    if (is_special(name)) {
        return call_special_setattr(self, name, value);
    }
    return snapshot_store(state_var, self, name, value);
}

static PyTypeObject DefaultCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_local._speedups.DefaultCore",
    .tp_basicsize = sizeof(LocalObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Attribute access of a default-mode Local, in C.",
    .tp_new = local_new,
    .tp_dealloc = (destructor)local_dealloc,
    .tp_traverse = (traverseproc)local_traverse,
    .tp_clear = (inquiry)local_clear,
    .tp_getattro = default_getattro,
    .tp_setattro = default_setattro,
};

/* --- CriticalCore: values per thread, per task inside a running loop ------------------ */

/* 1 when an event loop runs on this thread, 0 when none does, -1 on error. */
static int
loop_running(void)
{
    PyObject *loop = PyObject_CallNoArgs(get_running_loop);
    if (loop == NULL) {
        return -1;
    }
    int running = loop != Py_None;
    Py_DECREF(loop);
    return running;
}

/* This thread's dict of the instance's threading.local, as a new reference. */
static PyObject *
thread_dict(PyObject *self)
{
    PyObject *storage = ((LocalObject *)self)->storage;
    if (storage == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asgi_local: thread_critical Local has no storage");
        return NULL;
    }
    return PyObject_GetAttr(storage, dict_name);
}

static PyObject *
critical_getattro(PyObject *self, PyObject *name)
{
    int running = loop_running();
    if (running < 0) {
        return NULL;
    }
    PyObject *value;
    if (running) {
        value = snapshot_lookup(loop_state_var, self, name);
    }
    else {
        PyObject *per_thread = thread_dict(self);
        if (per_thread == NULL) {
            return NULL;
        }
        value = PyDict_GetItemWithError(per_thread, name);
        Py_XINCREF(value);
        Py_DECREF(per_thread);
    }
    if (value != NULL || PyErr_Occurred()) {
        return value;
    }
    return PyObject_GenericGetAttr(self, name);
}

static int
critical_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    if (value == NULL) {
        return call_delattr(critical_delattr, self, name);
    }
    if (is_special(name)) {
        return call_special_setattr(self, name, value);
    }
    int running = loop_running();
    if (running < 0) {
        return -1;
    }
    if (running) {
        return snapshot_store(loop_state_var, self, name, value);
    }
    PyObject *per_thread = thread_dict(self);
    if (per_thread == NULL) {
        return -1;
    }
    int result = PyDict_SetItem(per_thread, name, value);
    Py_DECREF(per_thread);
    return result;
}

static PyObject *
critical_storage(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *storage = ((LocalObject *)self)->storage;
    if (storage == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(storage);
    return storage;
}

static PyGetSetDef critical_getset[] = {
    {"_asgi_local_thread", (getter)critical_storage, NULL,
     "The threading.local holding this Local's values outside a running loop.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CriticalCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_local._speedups.CriticalCore",
    .tp_basicsize = sizeof(LocalObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Attribute access of a thread_critical Local, in C.",
    .tp_new = local_new,
    .tp_dealloc = (destructor)local_dealloc,
    .tp_traverse = (traverseproc)local_traverse,
    .tp_clear = (inquiry)local_clear,
    .tp_getattro = critical_getattro,
    .tp_setattro = critical_setattro,
    .tp_getset = critical_getset,
};

/* --- module functions ----------------------------------------------------------------- */

static PyObject *
thread_token(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!configured()) {
        return NULL;
    }
    PyObject *token = current_token();
    Py_XINCREF(token);
    return token;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *objs[8];
    PyInterpreterState *interpreter = PyInterpreterState_Get();
    if (configured_interpreter != NULL && configured_interpreter != interpreter) {
        PyErr_SetString(PyExc_ImportError,
                        "asgi_local._speedups already serves another interpreter of this "
                        "process; this one uses the pure-Python implementation");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "configure", 8, 8, &objs[0], &objs[1], &objs[2], &objs[3],
                           &objs[4], &objs[5], &objs[6], &objs[7])) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(objs[0]) || !PyContextVar_CheckExact(objs[1])) {
        PyErr_SetString(PyExc_TypeError, "configure() expects two ContextVars first");
        return NULL;
    }
    for (int i = 2; i < 8; i++) {
        if (!PyCallable_Check(objs[i])) {
            PyErr_Format(PyExc_TypeError, "configure() argument %d must be callable", i + 1);
            return NULL;
        }
    }
    PyObject **slots[8] = {&state_var,         &loop_state_var,  &get_running_loop,
                           &token_type,        &thread_local_type, &special_setattr,
                           &default_delattr,   &critical_delattr};
    for (int i = 0; i < 8; i++) {
        Py_INCREF(objs[i]);
        Py_XSETREF(*slots[i], objs[i]);
    }
    configured_interpreter = interpreter;
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(state, loop_state, get_running_loop, token_type, thread_local_type, "
     "special_setattr, default_delattr, critical_delattr): wire the accelerator to "
     "asgi_local's state. Called once by asgi_local."},
    {"thread_token", thread_token, METH_NOARGS,
     "Return the calling thread's token, made on first use; never reused by another thread."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asgi_local._speedups",
    .m_doc = "C implementation of Local attribute access (optional; see asgi_local).",
    .m_size = -1,
    .m_methods = speedups_methods,
};

/* Module init is single-phase (m_size -1): the names and types above are process-wide.
 * Every failure path releases what was made before it, so a failed import leaves no
 * references behind and a later import starts from nothing. */
PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module = NULL;
    token_key = PyUnicode_InternFromString("asgi_local._speedups.thread_token");
    if (token_key == NULL) {
        goto fail;
    }
    dict_name = PyUnicode_InternFromString("__dict__");
    if (dict_name == NULL) {
        goto fail;
    }
    DefaultCoreType.tp_base = &LocalBaseType;
    CriticalCoreType.tp_base = &LocalBaseType;
    if (PyType_Ready(&LocalBaseType) < 0 || PyType_Ready(&DefaultCoreType) < 0 ||
        PyType_Ready(&CriticalCoreType) < 0) {
        goto fail;
    }
    module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        goto fail;
    }
    if (PyModule_AddStringConstant(module, "SOURCE_HASH", ASGI_LOCAL_SOURCE_HASH) < 0 ||
        PyModule_AddType(module, &LocalBaseType) < 0 ||
        PyModule_AddType(module, &DefaultCoreType) < 0 ||
        PyModule_AddType(module, &CriticalCoreType) < 0) {
        goto fail;
    }
#ifdef ASGI_LOCAL_TEST_FAIL_INIT
    /* Test builds only: fail after every step, to check that the failure path cleans up. */
    PyErr_SetString(PyExc_ImportError, "asgi_local._speedups: init failure injected by a test");
    goto fail;
#endif
    return module;
fail:
    Py_XDECREF(module);
    Py_CLEAR(token_key);
    Py_CLEAR(dict_name);
    return NULL;
}
