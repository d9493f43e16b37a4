# cython: language_level=3
"""The rollout-controller's view of an agent event (warden.rollout.event_view.AgentEventView) built from a decoded
record without pydantic, for the records pydantic would accept as they are (why: ADR 0029).

`accept(record)` returns the same instances `AgentEventView.model_validate(record)` returns, or None for
anything it does not take as is: a missing or unusual field, any value pydantic would convert or refuse. The
caller then validates with pydantic, whose verdict and reasons are the contract; so this accepts only what
pydantic accepts. It checks exactly the view's rules (tests/rollout/test_view_fast.py pins them: a new field,
constraint or validator of the view fails that test until it is taken here too): event_id a canonical UUID,
event_type and status members of their enums, occurred_at UTC on whole milliseconds, tenant/workflow/run ids not
empty, tokens 0..2^63-1, cost None or finite and >= 0, the body the record event_type names, and the text rule
(no NUL, no lone surrogate: an ASCII string without NUL passes it; any other string is left to pydantic).
"""

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.set cimport PySet_New
from libc.string cimport memchr


cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyObject_GenericSetAttr(object o, object name, object value) except -1


cdef inline bint plain(object s):
    """A str the text rule passes without looking further: ASCII and no NUL."""
    return (type(s) is str and PyUnicode_IS_ASCII(s)
            and memchr(PyUnicode_DATA(s), 0, PyUnicode_GET_LENGTH(s)) == NULL)


cdef inline bint named(object s):
    return plain(s) and len(<str>s) > 0


cdef inline bint token(object n, object most):
    return type(n) is int and 0 <= n and n <= most


cdef object build(object cls, dict values):
    """As pydantic's model_construct leaves an instance (its __dict__, fields set, no extra, no private)."""
    m = object.__new__(cls)
    PyObject_GenericSetAttr(m, "__dict__", values)
    PyObject_GenericSetAttr(m, "__pydantic_fields_set__", PySet_New(values))
    PyObject_GenericSetAttr(m, "__pydantic_extra__", None)
    PyObject_GenericSetAttr(m, "__pydantic_private__", None)
    return m


cdef class Accept:
    cdef object event, llm_call, run_started, run_completed
    cdef dict types, status, branches
    cdef object uuid, utc, most, llm_kind, started_kind, datetime
    cdef double inf

    def __init__(self, event, llm_call, run_started, run_completed, dict types, dict status, dict branches,
                 uuid, utc, most, llm_kind, started_kind, datetime):
        self.event, self.llm_call, self.run_started, self.run_completed = event, llm_call, run_started, run_completed
        self.types, self.status, self.branches = types, status, branches
        self.uuid, self.utc, self.most = uuid, utc, most
        self.llm_kind, self.started_kind, self.datetime = llm_kind, started_kind, datetime
        self.inf = float("inf")

    def __call__(self, record):
        if type(record) is not dict or len(<dict>record) != 7:
            return None
        r = <dict>record
        cdef PyObject *found
        try:
            eid, at, tenant, workflow, run = r["event_id"], r["occurred_at"], r["tenant_id"], r["workflow"], r["run_id"]
            kind_name, pair = r["event_type"], r["body"]
        except KeyError:
            return None
        if type(kind_name) is not str or type(pair) is not tuple or len(<tuple>pair) != 2:
            return None
        found = PyDict_GetItem(self.types, kind_name)
        if found is NULL:
            return None
        kind = <object>found
        branch, b = pair
        if type(branch) is not str or type(b) is not dict:
            return None
        found = PyDict_GetItem(self.branches, branch)
        if found is NULL or <object>found is not kind:
            return None
        if not (type(eid) is str and self.uuid(eid) is not None and named(tenant) and named(workflow) and named(run)):
            return None
        if type(at) is not self.datetime or at.tzinfo is not self.utc or at.microsecond % 1000:
            return None
        body = self.body(kind, <dict>b)
        if body is None:
            return None
        return build(self.event, {"event_id": eid, "event_type": kind, "occurred_at": at, "tenant_id": tenant,
                                  "workflow": workflow, "run_id": run, "body": body})

    cdef object body(self, object kind, dict b):
        cdef PyObject *found
        if kind is self.llm_kind:
            if len(b) != 5:
                return None
            try:
                model, i, o, c, cost = b["model"], b["input_tokens"], b["output_tokens"], b["cached_tokens"], b["cost_usd"]
            except KeyError:
                return None
            if not (plain(model) and token(i, self.most) and token(o, self.most) and token(c, self.most)):
                return None
            if cost is not None and not (type(cost) is float and 0.0 <= <double>cost < self.inf):
                return None
            return build(self.llm_call, {"model": model, "input_tokens": i, "output_tokens": o, "cached_tokens": c,
                                         "cost_usd": cost})
        if kind is self.started_kind:
            if len(b) != 2:
                return None
            try:
                version, release = b["workflow_version"], b["release"]
            except KeyError:
                return None
            if not (plain(version) and (release is None or plain(release))):
                return None
            return build(self.run_started, {"workflow_version": version, "release": release})
        if len(b) != 1:
            return None
        status = b.get("status")
        if type(status) is not str:
            return None
        found = PyDict_GetItem(self.status, status)
        if found is NULL:
            return None
        return build(self.run_completed, {"status": <object>found})
