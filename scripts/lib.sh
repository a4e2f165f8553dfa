# Common helpers for the workbench scripts (sourced).
top=${top:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$top/build}
LINUX=${LINUX:-$BUILD/linux}
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
KOUT=${KOUT:-$BUILD/kout${KCONFIG:+-$KCONFIG}}
# The guest's userspace (selftests, initramfs) built from $LINUX goes to $UOUT.
UOUT=${UOUT:-$BUILD}
INITRAMFS=$UOUT/initramfs.cpio.gz
export CCACHE_DIR=${CCACHE_DIR:-$BUILD/ccache}
