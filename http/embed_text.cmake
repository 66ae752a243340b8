# Writes OUT: a C++ function NAME() returning the text of SRC, so tallyd carries the file
# without files beside it.  cmake -DSRC=... -DOUT=... -DNAME=... -P embed_text.cmake
file(READ ${SRC} content)
set(body "#include <string_view>\nnamespace tally::http {\nstd::string_view ${NAME}() {\n    return R\"tallyembed(${content})tallyembed\";\n}\n}  // namespace tally::http\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
