/* SPDX-License-Identifier: MIT */
/*
 * Context switch for x86-64 (System V ABI).
 *
 * void wf__ctx_switch(void **save_sp, void *load_sp)
 *	Saves the callee-saved registers (rbx, rbp, r12-r15), the MXCSR and
 *	the x87 control word on the current stack, stores the stack pointer
 *	in *save_sp, switches to load_sp and restores the same set from there.
 *	Everything else is caller-saved, so the compiler has already spilled
 *	what it needs: the switch is an ordinary call for it.
 *
 * Frame at a saved stack pointer S (16-byte aligned):
 *	S+0  mxcsr (4) | x87 cw (2) | pad (2)
 *	S+8  r15, S+16 r14, S+24 r13, S+32 r12, S+40 rbx, S+48 rbp
 *	S+56 return address
 * wf__ctx_init() in ctx.h builds the same frame for a new task, with
 * r12 = entry function, r13 = its argument and the return address set to
 * wf__ctx_start.
 */
	.text
	.globl	wf__ctx_switch
	.type	wf__ctx_switch, @function
	.p2align 4
wf__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	wf__ctx_switch, .-wf__ctx_switch

/*
 * First code a new task runs: call entry(arg), which never returns.
 * The return address is marked undefined so unwinders (gdb, perf, BPF
 * stack walkers with DWARF) stop here: this is the bottom of the task.
 */
	.globl	wf__ctx_start
	.type	wf__ctx_start, @function
	.p2align 4
wf__ctx_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	wf__ctx_start, .-wf__ctx_start

	.section .note.GNU-stack,"",@progbits
