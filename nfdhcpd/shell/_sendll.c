/* Send a frame on an AF_PACKET socket to an interface given by its index.
 *
 * Python's socket module only takes an AF_PACKET address by interface name and turns
 * it into an index with a SIOCGIFINDEX ioctl on every sendto: a system call per reply,
 * and a reply for a TAP renamed since its request was queued would go out on whatever
 * interface has the name now. NFQUEUE gives the index the request came in on, so the
 * reply is sent to that index (packet(7): sockaddr_ll, sll_ifindex), by this one
 * function. inject.py falls back to the name when it is not built (NFDHCPD_PURE=1).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>

static PyObject *
send_to_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct sockaddr_ll addr;
    Py_buffer frame;
    long fd, ifindex;
    ssize_t sent;

    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "send_to_index(fd, ifindex, frame): 3 arguments");
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    ifindex = PyLong_AsLong(args[1]);
    if (ifindex == -1 && PyErr_Occurred())
        return NULL;
    if (fd < 0 || fd > INT_MAX || ifindex <= 0 || ifindex > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "send_to_index: fd %ld, ifindex %ld", fd, ifindex);
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &frame, PyBUF_SIMPLE) < 0)
        return NULL;
    memset(&addr, 0, sizeof(addr));
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = (int)ifindex;
    /* sll_protocol 0: the frame goes out as it is, its EtherType in its header. */
    sent = sendto((int)fd, frame.buf, (size_t)frame.len, 0, (struct sockaddr *)&addr, sizeof(addr));
    PyBuffer_Release(&frame);
    if (sent < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSsize_t(sent);
}

static PyMethodDef methods[] = {
    {"send_to_index", (PyCFunction)(void (*)(void))send_to_index, METH_FASTCALL,
     "send_to_index(fd, ifindex, frame) -> bytes sent: sendto(2) on AF_PACKET socket fd to "
     "interface ifindex; raises OSError."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sendll", "sendto(2) by interface index on an AF_PACKET socket.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__sendll(void)
{
    return PyModule_Create(&module);
}
