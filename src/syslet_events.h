/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of the syslet module: one per step a chain's life can take.
 * They appear under events/syslet/ in tracefs once the module is loaded,
 * and cost one static branch each while disabled. Rust code calls them
 * through trace.rs; syslet_events.c instantiates them.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM syslet

#if !defined(_SYSLET_EVENTS_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SYSLET_EVENTS_H

#include <linux/tracepoint.h>

TRACE_EVENT(syslet_submit,
	TP_PROTO(u32 nr_chains, u32 flags, s64 timeout_ns),
	TP_ARGS(nr_chains, flags, timeout_ns),
	TP_STRUCT__entry(
		__field(u32, nr_chains)
		__field(u32, flags)
		__field(s64, timeout_ns)
	),
	TP_fast_assign(
		__entry->nr_chains = nr_chains;
		__entry->flags = flags;
		__entry->timeout_ns = timeout_ns;
	),
	TP_printk("chains=%u flags=0x%x timeout_ns=%lld",
		  __entry->nr_chains, __entry->flags, __entry->timeout_ns)
);

/* An atom ran (or was refused: then @result is the chain's errno). */
TRACE_EVENT(syslet_atom,
	TP_PROTO(u64 cookie, u32 nr, s64 result),
	TP_ARGS(cookie, nr, result),
	TP_STRUCT__entry(
		__field(u64, cookie)
		__field(u32, nr)
		__field(s64, result)
	),
	TP_fast_assign(
		__entry->cookie = cookie;
		__entry->nr = nr;
		__entry->result = result;
	),
	TP_printk("cookie=0x%llx nr=%u result=%lld",
		  __entry->cookie, __entry->nr, __entry->result)
);

/*
 * A chain blocked and went asynchronous: the program's thread (its id now
 * on @program, the spare that took the context) goes on in user space, and
 * @carrier (the task that blocked) carries the chain.
 */
TRACE_EVENT(syslet_handoff,
	TP_PROTO(u64 cookie, struct task_struct *program, struct task_struct *carrier),
	TP_ARGS(cookie, program, carrier),
	TP_STRUCT__entry(
		__field(u64, cookie)
		__field(pid_t, tid)
		__field(pid_t, carrier)
	),
	TP_fast_assign(
		__entry->cookie = cookie;
		__entry->tid = program->pid;
		__entry->carrier = carrier->pid;
	),
	TP_printk("cookie=0x%llx tid=%d carrier=%d",
		  __entry->cookie, __entry->tid, __entry->carrier)
);

/* A completion was posted: to the ring, or to the overflow if it was full. */
TRACE_EVENT(syslet_complete,
	TP_PROTO(u64 cookie, s64 result, u32 flags, u32 atoms_run, bool overflow),
	TP_ARGS(cookie, result, flags, atoms_run, overflow),
	TP_STRUCT__entry(
		__field(u64, cookie)
		__field(s64, result)
		__field(u32, flags)
		__field(u32, atoms_run)
		__field(bool, overflow)
	),
	TP_fast_assign(
		__entry->cookie = cookie;
		__entry->result = result;
		__entry->flags = flags;
		__entry->atoms_run = atoms_run;
		__entry->overflow = overflow;
	),
	TP_printk("cookie=0x%llx result=%lld flags=0x%x atoms=%u%s",
		  __entry->cookie, __entry->result, __entry->flags,
		  __entry->atoms_run, __entry->overflow ? " overflow" : "")
);

/*
 * SYSLET_IOC_CANCEL marked @matched chains that @carrier carries (@all for
 * SYSLET_CANCEL_ALL); one event per carrier, before it is interrupted.
 */
TRACE_EVENT(syslet_cancel,
	TP_PROTO(u64 cookie, bool all, u32 matched, struct task_struct *carrier),
	TP_ARGS(cookie, all, matched, carrier),
	TP_STRUCT__entry(
		__field(u64, cookie)
		__field(bool, all)
		__field(u32, matched)
		__field(pid_t, carrier)
	),
	TP_fast_assign(
		__entry->cookie = cookie;
		__entry->all = all;
		__entry->matched = matched;
		__entry->carrier = carrier->pid;
	),
	TP_printk("cookie=0x%llx%s matched=%u carrier=%d", __entry->cookie,
		  __entry->all ? " all" : "", __entry->matched, __entry->carrier)
);

/* A submission's deadline passed; @task runs (or carries) it. */
TRACE_EVENT(syslet_timeout,
	TP_PROTO(struct task_struct *task),
	TP_ARGS(task),
	TP_STRUCT__entry(
		__field(pid_t, task)
	),
	TP_fast_assign(
		__entry->task = task->pid;
	),
	TP_printk("task=%d", __entry->task)
);

#endif /* _SYSLET_EVENTS_H */

/* Out of the include guard, as define_trace.h requires. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE syslet_events
#include <trace/define_trace.h>
