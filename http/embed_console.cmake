# Writes console_embedded.cpp from http/console/* (sorted by name): the operator console's
# static files, served by tallyd at /console without a build step or files beside it.
file(GLOB files "${SRC_DIR}/console/*")
list(SORT files)
set(body "#include \"http/console.h\"\nnamespace tally::http {\nconst std::vector<ConsoleFile>& console_files() {\n    static const std::vector<ConsoleFile> all = {\n")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} content)
  string(APPEND body "        {\"${name}\", R\"tallyconsole(${content})tallyconsole\"},\n")
endforeach()
string(APPEND body "    };\n    return all;\n}\n}  // namespace tally::http\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
