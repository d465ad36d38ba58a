// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <weft.h>

int main(void)
{
	printf("libweft %s\n", wf_version());
	return 0;
}
