"""A clear error when the rendezvous port of a distributed launch is taken.

torchrun (``tools/dist_train.sh`` / ``dist_test.sh``) and mmengine's ``init_dist`` (Slurm)
fail on a busy port with ``DistNetworkError: ... EADDRINUSE ... address already in use`` (or
torchrun's own traceback), saying nothing of how to pick another. :func:`port_problem` checks
the port before the launch (the scripts run ``python kd_transfer/ports.py PORT``, standard library only) and
:func:`port_hint` turns the upstream error into one naming ``PORT`` / ``MASTER_PORT``.
"""
import socket
import sys
from typing import Optional

HINT = ('another run (or a leftover process) is using it: set PORT=<free port> for '
        'tools/dist_train.sh / dist_test.sh (MASTER_PORT for a --launcher pytorch / slurm run '
        'started by hand), e.g. PORT=29501; `ss -ltnp | grep :{port}` shows who holds it')


def port_problem(port: int, host: str = '') -> Optional[str]:
    """Why ``port`` cannot be listened on (None: free). ``SO_REUSEADDR`` as torch's store
    sets it, so a port in TIME_WAIT from a finished run counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
            sock.listen(1)
        except OSError as err:
            return f'port {port} is in use ({err.strerror}); {HINT.format(port=port)}'
    return None


def port_hint(err: BaseException, port) -> Optional[str]:
    """The message for an upstream error of a busy port (None for any other error)."""
    text = str(err)
    if 'EADDRINUSE' in text or 'address already in use' in text.lower():
        return (f'distributed launch: rendezvous port {port} is in use; {HINT.format(port=port)}. '
                f'Upstream error: {text.splitlines()[0] if text else type(err).__name__}')
    return None


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print('usage: python -m kd_transfer.ports PORT', file=sys.stderr)
        return 2
    problem = port_problem(int(args[0]))
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
