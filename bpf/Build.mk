# BPF programs, built for weftstat (CONFIG_WEFT_WEFTSTAT) and only natively:
#   vmlinux.h      from the running kernel's BTF (bpftool btf dump), into
#                  the object tree, never committed; regenerated when the
#                  kernel's BTF changes (after a reboot into another kernel)
#   X.bpf.o        clang -target bpf -g -O2, CO-RE relocations, -D__TARGET_ARCH_*
#   X.skel.h       bpftool gen skeleton: the loader embeds the object
# The loaders include $(obj)/bpf/X.skel.h and bpf/X.h (the shared types).

bpf-arch-x86_64 := x86
bpf-arch-aarch64 := arm64
bpf-arch := $(bpf-arch-$(ARCH))
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

bpf-y :=
ifeq ($(CONFIG_WEFT_WEFTSTAT)$(CROSS_COMPILE),y)
ifneq ($(bpf-arch),)
bpf-y += weftstat
endif
endif

# The BPF stall source's program (runtime/Build.mk): in libweft with
# CONFIG_WEFT_STALL_BPF; else, where weftstat's toolchain is needed anyway,
# for the stall_bpf test's own copy of the monitor (tests/Build.mk).
ifneq ($(stall-bpf-arch),)
ifneq ($(filter y,$(CONFIG_WEFT_STALL_BPF) $(CONFIG_WEFT_WEFTSTAT)),)
bpf-y += stall
endif
endif
# BPF_FETCH atomics (the slots' sequence counts) need -mcpu=v3 (5.12+).
BPF_CFLAGS_stall.bpf.o := -mcpu=v3

bpf-objs := $(patsubst %,$(obj)/bpf/%.bpf.o,$(bpf-y))
bpf-skels := $(patsubst %,$(obj)/bpf/%.skel.h,$(bpf-y))

# `make bpf` builds the objects and skeletons alone; naming them here also
# keeps make from deleting the objects as intermediate files.
PHONY += bpf
bpf: $(bpf-objs) $(bpf-skels)

# libbpf's usdt.bpf.h includes <linux/errno.h>, whose <asm/errno.h> lives in
# the multiarch directory (Debian: /usr/include/x86_64-linux-gnu).
bpf-multiarch := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(bpf-arch) -Wall -Werror \
	-I$(obj)/bpf -I$(srctree)/bpf \
	$(if $(bpf-multiarch),$(if $(wildcard /usr/include/$(bpf-multiarch)),-idirafter /usr/include/$(bpf-multiarch)))

# The header is regenerated only when its content would change: a new
# vmlinux.h with equal bytes keeps its timestamp, so nothing rebuilds.
quiet_cmd_vmlinux_h = GEN     $(patsubst $(objtree)/%,%,$@)
      cmd_vmlinux_h = $(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && \
		if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(obj)/bpf/vmlinux.h: $(VMLINUX_BTF)
	@mkdir -p $(dir $@)
	$(call cmd,vmlinux_h)

quiet_cmd_clang_bpf = CLANG-BPF $(patsubst $(objtree)/%,%,$@)
      cmd_clang_bpf = $(CLANG) $(BPF_CFLAGS) $(BPF_CFLAGS_$(notdir $@)) -MD -MP -MF $(dot-target).d -c $< -o $@

$(obj)/bpf/%.bpf.o: $(srctree)/bpf/%.bpf.c $(obj)/bpf/vmlinux.h FORCE
	@mkdir -p $(dir $@)
	$(call if_changed_dep,clang_bpf)

quiet_cmd_gen_skel = GEN-SKEL $(patsubst $(objtree)/%,%,$@)
      cmd_gen_skel = $(BPFTOOL) gen skeleton $< name $(basename $(basename $(notdir $<)))_bpf > $@.tmp && \
		mv $@.tmp $@

$(obj)/bpf/%.skel.h: $(obj)/bpf/%.bpf.o FORCE
	$(call if_changed,gen_skel)
