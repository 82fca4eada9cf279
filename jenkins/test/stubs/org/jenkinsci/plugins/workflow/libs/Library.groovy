package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stands in for Jenkins' @Library: the harness has loaded the library already. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
