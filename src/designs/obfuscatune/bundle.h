// A few named files as one byte string (what is sealed to the enclave): for each file
// be32(name length) || name || be64(size) || bytes. Names are plain file names (no '/', no "..").
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace veil::designs::obfuscatune {

using Bundle = std::map<std::string, std::string>;  // file name → contents

[[nodiscard]] std::string pack_bundle(const Bundle& files);
// Throws std::invalid_argument for a truncated bundle or a bad name.
[[nodiscard]] Bundle unpack_bundle(const std::string& bytes);
// The regular files directly in `dir` (or `path` itself when it is a file).
[[nodiscard]] Bundle read_bundle(const std::filesystem::path& path);

}  // namespace veil::designs::obfuscatune
