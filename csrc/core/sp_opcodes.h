/* Pickle opcodes, named and ordered as pickletools lists them.
 *
 * SP_OPCODE_LIST is an X-macro so that the enum, the name table and the
 * dense feature index stay in one place: X(name, byte, protocol). */
#ifndef SP_OPCODES_H
#define SP_OPCODES_H

#define SP_OPCODE_LIST(X)                                                                          \
    X(INT, 'I', 0)                                                                                 \
    X(BININT, 'J', 1)                                                                              \
    X(BININT1, 'K', 1)                                                                             \
    X(BININT2, 'M', 1)                                                                             \
    X(LONG, 'L', 0)                                                                                \
    X(LONG1, '\x8a', 2)                                                                            \
    X(LONG4, '\x8b', 2)                                                                            \
    X(STRING, 'S', 0)                                                                              \
    X(BINSTRING, 'T', 1)                                                                           \
    X(SHORT_BINSTRING, 'U', 1)                                                                     \
    X(BINBYTES, 'B', 3)                                                                            \
    X(SHORT_BINBYTES, 'C', 3)                                                                      \
    X(BINBYTES8, '\x8e', 4)                                                                        \
    X(BYTEARRAY8, '\x96', 5)                                                                       \
    X(NEXT_BUFFER, '\x97', 5)                                                                      \
    X(READONLY_BUFFER, '\x98', 5)                                                                  \
    X(NONE, 'N', 0)                                                                                \
    X(NEWTRUE, '\x88', 2)                                                                          \
    X(NEWFALSE, '\x89', 2)                                                                         \
    X(UNICODE, 'V', 0)                                                                             \
    X(SHORT_BINUNICODE, '\x8c', 4)                                                                 \
    X(BINUNICODE, 'X', 1)                                                                          \
    X(BINUNICODE8, '\x8d', 4)                                                                      \
    X(FLOAT, 'F', 0)                                                                               \
    X(BINFLOAT, 'G', 1)                                                                            \
    X(EMPTY_LIST, ']', 1)                                                                          \
    X(APPEND, 'a', 0)                                                                              \
    X(APPENDS, 'e', 1)                                                                             \
    X(LIST, 'l', 0)                                                                                \
    X(EMPTY_TUPLE, ')', 1)                                                                         \
    X(TUPLE, 't', 0)                                                                               \
    X(TUPLE1, '\x85', 2)                                                                           \
    X(TUPLE2, '\x86', 2)                                                                           \
    X(TUPLE3, '\x87', 2)                                                                           \
    X(EMPTY_DICT, '}', 1)                                                                          \
    X(DICT, 'd', 0)                                                                                \
    X(SETITEM, 's', 0)                                                                             \
    X(SETITEMS, 'u', 1)                                                                            \
    X(EMPTY_SET, '\x8f', 4)                                                                        \
    X(ADDITEMS, '\x90', 4)                                                                         \
    X(FROZENSET, '\x91', 4)                                                                        \
    X(POP, '0', 0)                                                                                 \
    X(DUP, '2', 0)                                                                                 \
    X(MARK, '(', 0)                                                                                \
    X(POP_MARK, '1', 1)                                                                            \
    X(GET, 'g', 0)                                                                                 \
    X(BINGET, 'h', 1)                                                                              \
    X(LONG_BINGET, 'j', 1)                                                                         \
    X(PUT, 'p', 0)                                                                                 \
    X(BINPUT, 'q', 1)                                                                              \
    X(LONG_BINPUT, 'r', 1)                                                                         \
    X(MEMOIZE, '\x94', 4)                                                                          \
    X(EXT1, '\x82', 2)                                                                             \
    X(EXT2, '\x83', 2)                                                                             \
    X(EXT4, '\x84', 2)                                                                             \
    X(GLOBAL, 'c', 0)                                                                              \
    X(STACK_GLOBAL, '\x93', 4)                                                                     \
    X(REDUCE, 'R', 0)                                                                              \
    X(BUILD, 'b', 0)                                                                               \
    X(INST, 'i', 0)                                                                                \
    X(OBJ, 'o', 1)                                                                                 \
    X(NEWOBJ, '\x81', 2)                                                                           \
    X(NEWOBJ_EX, '\x92', 4)                                                                        \
    X(PROTO, '\x80', 2)                                                                            \
    X(STOP, '.', 0)                                                                                \
    X(FRAME, '\x95', 4)                                                                            \
    X(PERSID, 'P', 0)                                                                              \
    X(BINPERSID, 'Q', 1)

/* The byte values, for the dispatch switch. */
enum sp_opcode {
#define SP_X(name, byte, proto) SP_OP_##name = (unsigned char)(byte),
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

/* Dense indices 0..SP_N_OPCODES-1 in pickletools order, for features. */
enum sp_opcode_index {
#define SP_X(name, byte, proto) SP_OPI_##name,
    SP_OPCODE_LIST(SP_X)
#undef SP_X
        SP_N_OPCODES
};

/* Dense index of a byte, or -1 when the byte is not an opcode. */
int sp_opcode_index(unsigned char byte);
/* The tables behind sp_opcode_index and sp_opcode_protocol, for the
 * machine's inner loop: index + 1 per byte (0: not an opcode). */
extern const signed char sp_opcode_byte_table[256];
extern const unsigned char sp_opcode_protocol_table[SP_N_OPCODES];
/* pickletools name of a dense index ("REDUCE"), or NULL. */
const char *sp_opcode_name(int index);
/* Protocol that introduced a dense index. */
int sp_opcode_protocol(int index);

#define SP_HIGHEST_PROTOCOL 5

#endif
