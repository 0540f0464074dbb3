// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates the trace events of syslet_events.h, with the
 * rust_do_trace_<event>() functions trace.rs calls.
 */
#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include "syslet_events.h"
