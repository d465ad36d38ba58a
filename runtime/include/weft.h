/* SPDX-License-Identifier: MIT */
/*
 * weft.h - the whole public API of libweft. Include this one header.
 * See docs/ and the man pages (weft(7)) for the reference.
 */
#ifndef WEFT_H
#define WEFT_H

#include <weft/version.h>
#include <weft/runtime.h>
#include <weft/task.h>
#include <weft/time.h>
#include <weft/chan.h>
#include <weft/sync.h>
#include <weft/blocking.h>
#include <weft/metrics.h>
#include <weft/io.h>

#endif /* WEFT_H */
