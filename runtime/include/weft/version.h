/* SPDX-License-Identifier: MIT */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define WF_VERSION_MAJOR 0
#define WF_VERSION_MINOR 1
#define WF_VERSION_PATCH 0

/*
 * wf_version - the library's version as "MAJOR.MINOR.PATCH".
 * Never fails; the string is static.
 */
const char *wf_version(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_VERSION_H */
