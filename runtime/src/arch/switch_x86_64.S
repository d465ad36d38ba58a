/* SPDX-License-Identifier: MIT */
/*
 * Context switch for x86-64 (System V ABI).
 *
 * void wf__ctx_switch(void **save_sp, void *load_sp)
 *	Saves the callee-saved registers (rbx, rbp, r12-r15) on the current
 *	stack (and, with CONFIG_WEFT_TASK_FPENV, the MXCSR and the x87
 *	control word), stores the stack pointer in *save_sp, switches to
 *	load_sp and restores the same set from there. Everything else is
 *	caller-saved, so the compiler has already spilled what it needs: the
 *	switch is an ordinary call for it.
 *
 *	It returns with "pop; jmp *reg", not "ret": the return address on
 *	the new stack is never the one the return-stack predictor pushed for
 *	this call, so a "ret" is mispredicted on every switch, while the
 *	indirect jump is predicted from its history (a task resumes in
 *	wf__switch_out, the scheduler in run_task: always the same places).
 *	Measured on a 2-vCPU EPYC: 23.5 ns per switch pair with "ret", 7.2
 *	with the jump (without the FP state; saving and restoring it adds
 *	about 9 ns per pair, see CONFIG_WEFT_TASK_FPENV).
 *
 * Frame at a saved stack pointer S (16-byte aligned):
 *	S+0  mxcsr (4) | x87 cw (2) | pad (2)   (unused without TASK_FPENV)
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
#ifdef CONFIG_WEFT_TASK_FPENV
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
#endif
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
#ifdef CONFIG_WEFT_TASK_FPENV
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
#endif
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
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmp	*%rcx
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
