// SPDX-License-Identifier: MIT
#include <weft/version.h>

#define STR_(x) #x
#define STR(x) STR_(x)

const char *wf_version(void)
{
	return STR(WF_VERSION_MAJOR) "." STR(WF_VERSION_MINOR) "." STR(WF_VERSION_PATCH);
}
