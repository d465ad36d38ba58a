# Test programs. Each tests/<area>/<name>.c is one program linked with the
# harness and libweft; list it in tests-y to have `make check` run it.
# tests-extra-y are helpers the tests run themselves (never run directly).

tests-y += tests/harness/harness_test
tests-extra-y += tests/harness/fixture_bad

harness-objs := $(obj)/tests/harness/wtest.o
harness-lib := $(obj)/tests/harness/libwtest.a

$(harness-lib): $(harness-objs) FORCE
	$(call if_changed,ar)

# Test programs include wtest.h directly.
$(obj)/tests/%.o: WEFT_CPPFLAGS += -I$(srctree)/tests/harness
