// pyhost: parse the command line, carry it out, exit with its status. Nothing else lives here.

#include "cli/invocation.hpp"
#include "diag/log.hpp"
#include "reporter/sink.hpp"
#include "run/launch.hpp"
#include "storage/storage_error.hpp"

int main(int argc, char** argv) {
    try {
        return pyhost::run::execute(pyhost::cli::parse(argc, argv));
    } catch (const pyhost::cli::UsageError& error) {
        pyhost::diag::to_stderr("pyhost: ", error.what(), "\n");
        return 2;
    } catch (const pyhost::reporter::SinkError& error) {
        pyhost::diag::to_stderr("pyhost: ", error.what(), "\n");
        return 2;
    } catch (const pyhost::storage::StorageError& error) {
        // A function that cannot be fetched, extracted or given its log's place: bad input
        // or configuration, said before the program ran.
        pyhost::diag::to_stderr("pyhost: ", error.what(), "\n");
        return 2;
    }
}
