/* SPDX-License-Identifier: MIT */
/*
 * Context switch for AArch64 (AAPCS64).
 *
 * void wf__ctx_switch(void **save_sp, void *load_sp)
 *	Saves x19-x28, the frame pointer x29, the link register x30, the low
 *	halves of v8-v15 (d8-d15) and, with CONFIG_WEFT_TASK_FPENV, FPCR on
 *	the current stack, stores sp in *save_sp, switches to load_sp and
 *	restores the same set.
 *
 * Frame at a saved stack pointer S (16-byte aligned, 176 bytes):
 *	S+0 x19 x20, S+16 x21 x22, S+32 x23 x24, S+48 x25 x26,
 *	S+64 x27 x28, S+80 x29 x30, S+96 d8 d9, S+112 d10 d11,
 *	S+128 d12 d13, S+144 d14 d15, S+160 fpcr (unused without
 *	TASK_FPENV), S+168 pad
 * wf__ctx_init() builds it for a new task with x19 = entry, x20 = argument
 * and x30 = wf__ctx_start.
 */
	.text
	.globl	wf__ctx_switch
	.type	wf__ctx_switch, %function
	.p2align 4
wf__ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_adjust_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
#ifdef CONFIG_WEFT_TASK_FPENV
	mrs	x9, fpcr
	str	x9, [sp, #160]
#endif
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
#ifdef CONFIG_WEFT_TASK_FPENV
	ldr	x9, [sp, #160]
	msr	fpcr, x9
#endif
	add	sp, sp, #176
	.cfi_adjust_cfa_offset -176
	ret
	.cfi_endproc
	.size	wf__ctx_switch, .-wf__ctx_switch

	.globl	wf__ctx_start
	.type	wf__ctx_start, %function
	.p2align 4
wf__ctx_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0
	mov	x0, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	wf__ctx_start, .-wf__ctx_start

	.section .note.GNU-stack,"",%progbits
